//! Cairn's mempool and block production
