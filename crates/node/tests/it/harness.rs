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

/// Creation code of a forwarder: its runtime copies the calldata, CALLs `target` with it
/// (passing the call's value on with `with_value`, none otherwise) and stops
/// (CALLDATASIZE PUSH0 PUSH0 CALLDATACOPY, then CALL(gas, target, value, 0, size, 0, 0),
/// POP, STOP), so one transaction makes a call inside a call.
pub fn forwarder_bytecode(target: Address, with_value: bool) -> Vec<u8> {
    let value = if with_value { 0x34 } else { 0x5f };
    let mut runtime = vec![0x36, 0x5f, 0x5f, 0x37, 0x5f, 0x5f, 0x36, 0x5f, value, 0x73];
    runtime.extend_from_slice(target.as_slice());
    runtime.extend_from_slice(&[0x5a, 0xf1, 0x50, 0x00]);
    assert_eq!(runtime.len(), 0x22);
    // PUSH1 len DUP1 PUSH1 9 PUSH0 CODECOPY PUSH0 RETURN
    let mut code = vec![0x60, 0x22, 0x80, 0x60, 0x09, 0x5f, 0x39, 0x5f, 0xf3];
    code.extend(runtime);
    code
}
