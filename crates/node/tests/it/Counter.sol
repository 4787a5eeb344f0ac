// SPDX-License-Identifier: MIT
// Test contract for the node's integration tests; Counter.bin is its creation
// bytecode, compiled with solcjs 0.8.35 (evmVersion cancun, optimizer off):
//   node compat/scripts/compile-counter.js
pragma solidity ^0.8.20;

contract Counter {
    uint256 public count;

    event Incremented(address indexed by, uint256 newCount);

    error TooBig(uint256 value);

    function inc(uint256 by) external {
        require(by > 0, "zero increment");
        if (by > 100) revert TooBig(by);
        count += by;
        emit Incremented(msg.sender, count);
    }
}
