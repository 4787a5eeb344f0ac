// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Tally} from "../src/Tally.sol";
import {vm} from "../src/Vm.sol";

/// Run with `--fork-url` at cairn dev after script/Deploy.s.sol, with TALLY set to the
/// deployed address: the fork reads the chain's state, and changes stay in the fork.
contract ForkTest {
    Tally tally;

    function setUp() public {
        tally = Tally(vm.envAddress("TALLY"));
    }

    function test_reads_the_deployed_state() public view {
        require(tally.total() == 3, "the script added 3");
        require(tally.creator() != address(0), "a creator");
        require(address(tally).code.length > 0, "code on the fork");
    }

    function test_the_create2_deployer_is_there() public view {
        require(address(0x4e59b44847b379578588920cA78FbF26c0B4956C).code.length > 0, "CREATE2 deployer");
    }

    function test_writes_stay_in_the_fork() public {
        tally.add(4);
        require(tally.total() == 7, "3 + 4 on the fork");
        vm.deal(address(this), 1 ether);
        require(address(this).balance == 1 ether, "dealt on the fork");
    }
}
