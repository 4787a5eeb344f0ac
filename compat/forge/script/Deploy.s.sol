// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Tally} from "../src/Tally.sol";
import {vm} from "../src/Vm.sol";

/// Deploys Tally and adds 3 to it, broadcast from the key forge is given.
contract Deploy {
    function run() external returns (Tally tally) {
        vm.startBroadcast();
        tally = new Tally();
        tally.add(3);
        vm.stopBroadcast();
    }
}
