// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// A running total anyone may add to; the deployer is recorded.
contract Tally {
    address public immutable creator;
    uint256 public total;

    event Added(address indexed by, uint256 amount, uint256 total);

    constructor() {
        creator = msg.sender;
    }

    function add(uint256 amount) external {
        total += amount;
        emit Added(msg.sender, amount, total);
    }
}
