// Hardhat's network helpers and ethers signers against cairn dev: loadFixture (evm_snapshot
// and evm_revert), time.increase, mine, impersonateAccount and setBalance, as the Hardhat
// tutorial and OpenZeppelin's tests use them.
import { expect } from 'chai';
import { network } from 'hardhat';

const { ethers, networkHelpers } = await network.getOrCreate();
const { loadFixture, time, mine, impersonateAccount, stopImpersonatingAccount, setBalance } = networkHelpers;

async function deployTally() {
  const [owner, other] = await ethers.getSigners();
  const tally = await ethers.deployContract('Tally');
  await tally.waitForDeployment();
  return { tally, owner, other };
}

describe('Hardhat 3 on cairn dev', function () {
  it('deploys with the node’s own accounts', async function () {
    const { tally, owner } = await loadFixture(deployTally);
    expect(await tally.creator()).to.equal(owner.address);
    expect(await tally.total()).to.equal(0n);
  });

  it('loadFixture hands every test the same fresh state', async function () {
    const { tally, other } = await loadFixture(deployTally);
    await expect(tally.connect(other).add(5)).to.emit(tally, 'Added').withArgs(other.address, 5n, 5n);
    expect(await tally.total()).to.equal(5n);
  });

  it('after a revert the total is back to zero', async function () {
    const { tally } = await loadFixture(deployTally);
    expect(await tally.total()).to.equal(0n);
  });

  it('time.increase moves block time and mine seals blocks', async function () {
    await loadFixture(deployTally);
    const before = await time.latest();
    await time.increase(3600);
    expect(await time.latest()).to.be.greaterThanOrEqual(before + 3600);
    const height = await time.latestBlock();
    await mine(5);
    expect(await time.latestBlock()).to.equal(height + 5);
  });

  it('impersonateAccount and setBalance send as an address without its key', async function () {
    const { tally } = await loadFixture(deployTally);
    const whale = '0x00000000000000000000000000000000000c0ffe';
    await setBalance(whale, ethers.parseEther('2'));
    expect(await ethers.provider.getBalance(whale)).to.equal(ethers.parseEther('2'));
    await impersonateAccount(whale);
    const signer = await ethers.getSigner(whale);
    await expect(tally.connect(signer).add(7)).to.emit(tally, 'Added').withArgs(ethers.getAddress(whale), 7n, 7n);
    await stopImpersonatingAccount(whale);
    expect(await tally.total()).to.equal(7n);
  });
});
