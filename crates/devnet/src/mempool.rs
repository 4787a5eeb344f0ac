//! The mempool: transactions waiting for a block, indexed by what they spend, with
//! ancestor-package (CPFP) selection for block templates.

use std::collections::{HashMap, HashSet};

use bitcoin::{Amount, OutPoint, Transaction, Txid, Weight};

/// One mempool transaction with its fee.
#[derive(Debug, Clone)]
pub struct MempoolEntry {
    /// The transaction.
    pub tx: Transaction,
    /// Its fee (inputs minus outputs).
    pub fee: Amount,
    /// Its weight.
    pub weight: Weight,
    /// Its virtual size, sigop-adjusted as bitcoind counts it for fee rates.
    pub vsize: u64,
    /// Arrival order, for stable ordering.
    pub seq: u64,
}

impl MempoolEntry {
    /// Fee rate in sat per kvB, truncated as bitcoind's `CFeeRate` does.
    pub fn sat_per_kvb(&self) -> u64 {
        self.fee.to_sat().saturating_mul(1000) / self.vsize.max(1)
    }
}

/// Transactions waiting for a block.
#[derive(Debug, Default, Clone)]
pub struct Mempool {
    entries: HashMap<Txid, MempoolEntry>,
    spent_by: HashMap<OutPoint, Txid>,
    next_seq: u64,
}

impl Mempool {
    /// Number of transactions.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the mempool is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry for `txid`.
    pub fn get(&self, txid: &Txid) -> Option<&MempoolEntry> {
        self.entries.get(txid)
    }

    /// Whether `txid` is in the mempool.
    pub fn contains(&self, txid: &Txid) -> bool {
        self.entries.contains_key(txid)
    }

    /// The mempool transaction spending `outpoint`, if any.
    pub fn spender(&self, outpoint: &OutPoint) -> Option<Txid> {
        self.spent_by.get(outpoint).copied()
    }

    /// An output of a mempool transaction.
    pub fn output(&self, outpoint: &OutPoint) -> Option<&bitcoin::TxOut> {
        self.entries
            .get(&outpoint.txid)
            .and_then(|e| e.tx.output.get(outpoint.vout as usize))
    }

    /// All txids in arrival order.
    pub fn txids(&self) -> Vec<Txid> {
        let mut all: Vec<_> = self.entries.iter().map(|(id, e)| (e.seq, *id)).collect();
        all.sort_unstable();
        all.into_iter().map(|(_, id)| id).collect()
    }

    /// Adds an already validated transaction with its (sigop-adjusted) virtual size.
    pub fn insert(&mut self, tx: Transaction, fee: Amount, vsize: u64) {
        let txid = tx.compute_txid();
        for input in &tx.input {
            self.spent_by.insert(input.previous_output, txid);
        }
        let weight = tx.weight();
        self.next_seq += 1;
        self.entries.insert(
            txid,
            MempoolEntry {
                tx,
                fee,
                weight,
                vsize,
                seq: self.next_seq,
            },
        );
    }

    /// In-mempool parents of `txid`.
    pub fn parents(&self, txid: &Txid) -> Vec<Txid> {
        let Some(entry) = self.entries.get(txid) else {
            return Vec::new();
        };
        let mut out: Vec<Txid> = entry
            .tx
            .input
            .iter()
            .map(|i| i.previous_output.txid)
            .filter(|p| self.entries.contains_key(p))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// In-mempool children of `txid`.
    pub fn children(&self, txid: &Txid) -> Vec<Txid> {
        let Some(entry) = self.entries.get(txid) else {
            return Vec::new();
        };
        let mut out: Vec<Txid> = (0..entry.tx.output.len())
            .filter_map(|vout| {
                let vout = u32::try_from(vout).ok()?;
                self.spent_by.get(&OutPoint { txid: *txid, vout }).copied()
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// `txid` and all its in-mempool descendants.
    pub fn with_descendants(&self, txid: &Txid) -> HashSet<Txid> {
        self.closure(*txid, |id| self.children(id))
    }

    /// `txid` and all its in-mempool ancestors.
    pub fn with_ancestors(&self, txid: &Txid) -> HashSet<Txid> {
        self.closure(*txid, |id| self.parents(id))
    }

    fn closure(&self, start: Txid, next: impl Fn(&Txid) -> Vec<Txid>) -> HashSet<Txid> {
        let mut seen = HashSet::new();
        let mut stack = vec![start];
        while let Some(id) = stack.pop() {
            if self.entries.contains_key(&id) && seen.insert(id) {
                stack.extend(next(&id));
            }
        }
        seen
    }

    /// Removes one transaction (not its descendants).
    pub fn remove(&mut self, txid: &Txid) -> Option<MempoolEntry> {
        let entry = self.entries.remove(txid)?;
        for input in &entry.tx.input {
            if self.spent_by.get(&input.previous_output) == Some(txid) {
                self.spent_by.remove(&input.previous_output);
            }
        }
        Some(entry)
    }

    /// Removes `txid` and its descendants.
    pub fn remove_with_descendants(&mut self, txid: &Txid) {
        for id in self.with_descendants(txid) {
            self.remove(&id);
        }
    }

    /// Removes everything, returning the transactions in arrival order.
    pub fn drain(&mut self) -> Vec<Transaction> {
        let order = self.txids();
        let mut out = Vec::with_capacity(order.len());
        for id in order {
            if let Some(e) = self.remove(&id) {
                out.push(e.tx);
            }
        }
        self.spent_by.clear();
        out
    }

    /// Picks transactions for a block by ancestor-package fee rate (CPFP), parents before
    /// children, within `max_weight`. Ties go to the earlier arrival.
    pub fn select(&self, max_weight: u64) -> Vec<Txid> {
        struct Candidate {
            txid: Txid,
            seq: u64,
            ancestors: Vec<Txid>,
            fee: u64,
            weight: u64,
            done: bool,
        }
        let mut cands: Vec<Candidate> = self
            .entries
            .iter()
            .map(|(txid, e)| {
                let ancestors: Vec<Txid> = self.with_ancestors(txid).into_iter().collect();
                let (fee, weight) = self.sum(&ancestors);
                Candidate {
                    txid: *txid,
                    seq: e.seq,
                    ancestors,
                    fee,
                    weight,
                    done: false,
                }
            })
            .collect();
        cands.sort_by_key(|c| c.seq);
        let position: HashMap<Txid, usize> =
            cands.iter().enumerate().map(|(i, c)| (c.txid, i)).collect();
        let mut included: HashSet<Txid> = HashSet::new();
        let mut order = Vec::new();
        let mut used = 0u64;
        loop {
            // The best remaining package: fee/weight compared as cross products.
            let mut best: Option<usize> = None;
            for (i, c) in cands.iter().enumerate() {
                if c.done {
                    continue;
                }
                let better = best.is_none_or(|b| {
                    let b = &cands[b];
                    u128::from(c.fee) * u128::from(b.weight.max(1))
                        > u128::from(b.fee) * u128::from(c.weight.max(1))
                });
                if better {
                    best = Some(i);
                }
            }
            let Some(best) = best else { break };
            cands[best].done = true;
            if used.saturating_add(cands[best].weight) > max_weight {
                continue;
            }
            used += cands[best].weight;
            let mut package: Vec<Txid> = cands[best]
                .ancestors
                .iter()
                .filter(|a| !included.contains(*a))
                .copied()
                .collect();
            // Parents first: an ancestor has fewer ancestors than its descendants.
            package.sort_by_key(|a| {
                position
                    .get(a)
                    .map_or((0, 0), |&i| (cands[i].ancestors.len(), cands[i].seq))
            });
            for a in &package {
                included.insert(*a);
                order.push(*a);
                let Some(&ai) = position.get(a) else { continue };
                cands[ai].done = true;
                let (fee, weight) = self.sum(std::slice::from_ref(a));
                // Descendants no longer pay for this ancestor.
                for d in self.with_descendants(a) {
                    if let Some(&di) = position.get(&d) {
                        cands[di].fee = cands[di].fee.saturating_sub(fee);
                        cands[di].weight = cands[di].weight.saturating_sub(weight);
                    }
                }
            }
        }
        order
    }

    /// Total fee (sat) and weight (WU) of some mempool transactions.
    fn sum(&self, txids: &[Txid]) -> (u64, u64) {
        txids
            .iter()
            .filter_map(|t| self.entries.get(t))
            .fold((0, 0), |(f, w), e| {
                (
                    f.saturating_add(e.fee.to_sat()),
                    w.saturating_add(e.weight.to_wu()),
                )
            })
    }
}
