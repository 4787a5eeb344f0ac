// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// The few Foundry cheatcodes these scripts and tests use (forge-std is not on npm).
interface Vm {
    function startBroadcast() external;
    function stopBroadcast() external;
    function envAddress(string calldata name) external view returns (address);
    function deal(address who, uint256 amount) external;
}

// Where forge serves its cheatcodes: address(uint160(uint256(keccak256("hevm cheat code")))).
Vm constant vm = Vm(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);
