//! Ethereum JSON-RPC (eth_, net_, web3_, txpool_) over HTTP and WebSocket
