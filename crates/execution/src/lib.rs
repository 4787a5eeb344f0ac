//! Running L2 blocks with revm: state views, block building, system transactions, fee rules
