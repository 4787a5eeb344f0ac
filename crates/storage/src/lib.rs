//! Cairn's embedded database: blocks, receipts, indexes, flat state; crash-safe per-block commits
