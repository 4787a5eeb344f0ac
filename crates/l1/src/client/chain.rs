//! Chain, mempool, fee and mining calls.

use bitcoin::block::Header;
use bitcoin::consensus::encode::serialize_hex;
use bitcoin::{Address, Block, BlockHash, Transaction, Txid};
use serde_json::Value;

use super::{Client, text_param};
use crate::error::Result;
use crate::transport::param;
use crate::types::{
    BlockHeaderInfo, BlockchainInfo, ChainTip, EstimateMode, FeeEstimate, GeneratedBlock,
    MempoolAcceptResult, MempoolEntry, MempoolInfo, NetworkInfo, TxOutInfo,
};

impl Client {
    /// `getblockchaininfo`.
    pub async fn get_blockchain_info(&self) -> Result<BlockchainInfo> {
        self.request("getblockchaininfo", &[]).await
    }

    /// `getnetworkinfo`.
    pub async fn get_network_info(&self) -> Result<NetworkInfo> {
        self.request("getnetworkinfo", &[]).await
    }

    /// `getblockcount`: the height of the tip.
    pub async fn get_block_count(&self) -> Result<u32> {
        self.request("getblockcount", &[]).await
    }

    /// `getbestblockhash`: the hash of the tip.
    pub async fn get_best_block_hash(&self) -> Result<BlockHash> {
        self.request("getbestblockhash", &[]).await
    }

    /// `getblockhash <height>`: the active chain's block at `height` (error -8 above the tip).
    pub async fn get_block_hash(&self, height: u32) -> Result<BlockHash> {
        self.request("getblockhash", &[param(height.into())]).await
    }

    /// `getblockheader <hash> false`, decoded (error -5 for an unknown block).
    pub async fn get_block_header(&self, hash: &BlockHash) -> Result<Header> {
        let params = [text_param(hash), param(false.into())];
        self.request_hex("getblockheader", &params).await
    }

    /// `getblockheader <hash> true`: height, confirmations, neighbours and work.
    pub async fn get_block_header_info(&self, hash: &BlockHash) -> Result<BlockHeaderInfo> {
        let params = [text_param(hash), param(true.into())];
        self.request("getblockheader", &params).await
    }

    /// `getblock <hash> 0`, decoded (error -5 for an unknown block).
    pub async fn get_block(&self, hash: &BlockHash) -> Result<Block> {
        let params = [text_param(hash), param(0.into())];
        self.request_hex("getblock", &params).await
    }

    /// `getrawtransaction <txid> false`, decoded; `None` when bitcoind does not know it
    /// (error -5: not in the mempool, and confirmed but without `-txindex`).
    pub async fn get_raw_transaction(&self, txid: &Txid) -> Result<Option<Transaction>> {
        let params = [text_param(txid), param(false.into())];
        not_found_as_none(self.request_hex("getrawtransaction", &params).await)
    }

    /// `gettxout <txid> <vout> <include_mempool>`; `None` for a spent or unknown output.
    pub async fn get_tx_out(
        &self,
        txid: &Txid,
        vout: u32,
        include_mempool: bool,
    ) -> Result<Option<TxOutInfo>> {
        let params = [
            text_param(txid),
            param(vout.into()),
            param(include_mempool.into()),
        ];
        self.request("gettxout", &params).await
    }

    /// `sendrawtransaction <hex>`: the txid, once the mempool took it (error -26 when
    /// policy refuses it, -27 when it is already confirmed).
    pub async fn send_raw_transaction(&self, tx: &Transaction) -> Result<Txid> {
        self.request("sendrawtransaction", &[param(serialize_hex(tx).into())])
            .await
    }

    /// `testmempoolaccept [<hex>...]`: whether the mempool would take each transaction.
    pub async fn test_mempool_accept(
        &self,
        txs: &[Transaction],
    ) -> Result<Vec<MempoolAcceptResult>> {
        let hexes: Vec<Value> = txs.iter().map(|tx| serialize_hex(tx).into()).collect();
        self.request("testmempoolaccept", &[param(hexes.into())])
            .await
    }

    /// `getrawmempool`: the txids in the mempool.
    pub async fn get_raw_mempool(&self) -> Result<Vec<Txid>> {
        self.request("getrawmempool", &[]).await
    }

    /// `getmempoolentry <txid>`; `None` when it is not in the mempool (error -5).
    pub async fn get_mempool_entry(&self, txid: &Txid) -> Result<Option<MempoolEntry>> {
        not_found_as_none(self.request("getmempoolentry", &[text_param(txid)]).await)
    }

    /// `getmempoolinfo`.
    pub async fn get_mempool_info(&self) -> Result<MempoolInfo> {
        self.request("getmempoolinfo", &[]).await
    }

    /// `estimatesmartfee <conf_target> [mode]`. Without enough data (a fresh regtest) the
    /// fee rate is `None` and `errors` says why.
    pub async fn estimate_smart_fee(
        &self,
        conf_target: u16,
        mode: Option<EstimateMode>,
    ) -> Result<FeeEstimate> {
        let mut params = vec![param(conf_target.into())];
        params.extend(mode.map(|m| param(m.as_str().into())));
        self.request("estimatesmartfee", &params).await
    }

    /// `generatetoaddress <n> <address>` (regtest): the new blocks' hashes. Never retried
    /// once sent, since a retry would mine again.
    pub async fn generate_to_address(&self, n: u32, address: &Address) -> Result<Vec<BlockHash>> {
        let params = [param(n.into()), text_param(address)];
        self.request("generatetoaddress", &params).await
    }

    /// `generateblock <address> [<hex>...]` (regtest): mines a block with exactly `txs`
    /// after the coinbase paying `address`. Never retried once sent.
    pub async fn generate_block(
        &self,
        address: &Address,
        txs: &[Transaction],
    ) -> Result<BlockHash> {
        let hexes: Vec<Value> = txs.iter().map(|tx| serialize_hex(tx).into()).collect();
        let params = [text_param(address), param(hexes.into())];
        let block: GeneratedBlock = self.request("generateblock", &params).await?;
        Ok(block.hash)
    }

    /// `invalidateblock <hash>`: marks the block invalid and reorganises away from it.
    pub async fn invalidate_block(&self, hash: &BlockHash) -> Result<()> {
        let _: Value = self.request("invalidateblock", &[text_param(hash)]).await?;
        Ok(())
    }

    /// `reconsiderblock <hash>`: undoes `invalidateblock`.
    pub async fn reconsider_block(&self, hash: &BlockHash) -> Result<()> {
        let _: Value = self.request("reconsiderblock", &[text_param(hash)]).await?;
        Ok(())
    }

    /// `getchaintips`.
    pub async fn get_chain_tips(&self) -> Result<Vec<ChainTip>> {
        self.request("getchaintips", &[]).await
    }
}

/// bitcoind's "not found" (-5) as `None`.
pub(super) fn not_found_as_none<T>(result: Result<T>) -> Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}
