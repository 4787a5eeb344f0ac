//! The test kit (`cairn-test-utils`) and this crate's own fixture: the Counter contract.

use alloy::primitives::{Address, Bytes, TxKind};

pub use cairn_test_utils::*;

/// The creation bytecode of tests/it/Counter.sol.
pub fn counter_bytecode() -> Bytes {
    let hex = include_str!("Counter.bin").trim();
    hex.parse().expect("Counter.bin is hex")
}

alloy::sol! {
    contract Counter {
        function count() external view returns (uint256);
        function inc(uint256 by) external;
        event Incremented(address indexed by, uint256 newCount);
        error TooBig(uint256 value);
    }
}

/// Deploy Counter from dev account `i`; returns its address.
pub async fn deploy_counter(node: &TestNode, i: usize) -> Address {
    let hash = send_tx(
        node,
        i,
        TxKind::Create,
        counter_bytecode().to_vec(),
        500_000,
    )
    .await;
    let r = receipt(&node.provider(i), hash).await;
    assert!(r.status(), "deployment succeeded");
    r.contract_address.expect("contract address")
}
