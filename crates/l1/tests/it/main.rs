//! Integration tests of cairn-l1 against a fake bitcoind served over HTTP.

mod calls;
mod chain;
mod fake;
mod source;
mod transport;

use std::time::Duration;

use cairn_l1::{Auth, Config, RetryPolicy};

/// The fake's credentials.
pub const USER: &str = "alice";
pub const PASSWORD: &str = "s3cret";

/// `USER:PASSWORD`.
pub fn user_pass() -> String {
    format!("{USER}:{PASSWORD}")
}

/// A config for `url` with fast retries: 10 ms doubling to 80 ms, 6 attempts.
pub fn config(url: &str, auth: Auth) -> Config {
    Config {
        timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(80),
            max_attempts: 6,
            max_elapsed: Duration::from_secs(10),
        },
        ..Config::new(url, auth)
    }
}

/// The fake's user/password credentials.
pub fn good_auth() -> Auth {
    Auth::UserPass {
        user: USER.into(),
        password: PASSWORD.into(),
    }
}
