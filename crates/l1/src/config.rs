//! How to reach bitcoind: URL, credentials, timeout and retry policy.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Where bitcoind listens and how to talk to it.
#[derive(Debug, Clone)]
pub struct Config {
    /// The RPC URL, e.g. `http://127.0.0.1:8332` (bitcoind serves plain HTTP only).
    pub url: String,
    /// The credentials.
    pub auth: Auth,
    /// The deadline of one HTTP request, from connecting to the last byte of the answer.
    pub timeout: Duration,
    /// When and how often to try again.
    pub retry: RetryPolicy,
}

impl Config {
    /// `url` with `auth`, a 30 s timeout and the default retry policy.
    pub fn new(url: impl Into<String>, auth: Auth) -> Self {
        Self {
            url: url.into(),
            auth,
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
        }
    }
}

/// bitcoind's HTTP Basic credentials.
#[derive(Clone)]
pub enum Auth {
    /// bitcoind's `.cookie` file (`__cookie__:<hex>`), used verbatim as `user:password`.
    /// It is read again whenever a connection fails or bitcoind answers 401, because
    /// bitcoind writes a new one each time it starts.
    CookieFile(PathBuf),
    /// `-rpcuser`/`-rpcpassword` or an `-rpcauth` pair.
    UserPass {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
}

impl fmt::Debug for Auth {
    /// Never prints the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CookieFile(path) => f.debug_tuple("CookieFile").field(path).finish(),
            Self::UserPass { user, .. } => f
                .debug_struct("UserPass")
                .field("user", user)
                .field("password", &"<redacted>")
                .finish(),
        }
    }
}

/// Retries with exponential backoff, for failures where the call certainly did not run
/// (connection refused, HTTP 503, warmup) or where running it twice is harmless.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The pause after the first failure; doubled after each further failure.
    pub initial_backoff: Duration,
    /// The longest pause.
    pub max_backoff: Duration,
    /// Attempts in all, the first one included; 1 disables retrying.
    pub max_attempts: u32,
    /// No retry starts later than this after the first attempt.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    /// 100 ms doubling to 5 s, at most 12 attempts within 60 s (about 31 s of pauses).
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            max_attempts: 12,
            max_elapsed: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retries.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }
}

/// The pauses of one call's retries under a [`RetryPolicy`].
#[derive(Debug)]
pub(crate) struct Backoff {
    policy: RetryPolicy,
    started: tokio::time::Instant,
    attempts: u32,
    next: Duration,
}

impl Backoff {
    /// Starts counting with the first attempt under way.
    pub(crate) fn start(policy: RetryPolicy) -> Self {
        Self {
            policy,
            started: tokio::time::Instant::now(),
            attempts: 1,
            next: policy.initial_backoff,
        }
    }

    /// The pause before the next attempt, or `None` when the policy is used up.
    pub(crate) fn next_pause(&mut self) -> Option<Duration> {
        if self.attempts >= self.policy.max_attempts {
            return None;
        }
        let pause = self.next.min(self.policy.max_backoff);
        if self.started.elapsed() + pause > self.policy.max_elapsed {
            return None;
        }
        self.attempts += 1;
        self.next = pause.saturating_mul(2);
        Some(pause)
    }

    /// Attempts started so far.
    pub(crate) fn attempts(&self) -> u32 {
        self.attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn backoff_doubles_up_to_the_cap_and_stops_after_max_attempts() {
        let mut backoff = Backoff::start(RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
            max_attempts: 6,
            max_elapsed: Duration::from_secs(60),
        });
        let pauses: Vec<_> = std::iter::from_fn(|| backoff.next_pause()).collect();
        let millis: Vec<_> = pauses.iter().map(Duration::as_millis).collect();
        assert_eq!(millis, [100, 200, 400, 500, 500]);
        assert_eq!(backoff.attempts(), 6);
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_stops_at_max_elapsed() {
        let mut backoff = Backoff::start(RetryPolicy {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(5),
            max_attempts: 100,
            max_elapsed: Duration::from_secs(10),
        });
        assert_eq!(backoff.next_pause(), Some(Duration::from_secs(1)));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(backoff.next_pause(), Some(Duration::from_secs(2)));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(backoff.next_pause(), Some(Duration::from_secs(4)));
        tokio::time::advance(Duration::from_secs(4)).await;
        // 7 s elapsed: another 5 s pause would end past the 10 s budget.
        assert_eq!(backoff.next_pause(), None);
    }

    #[test]
    fn debug_output_hides_the_password() {
        let auth = Auth::UserPass {
            user: "alice".into(),
            password: "hunter2".into(),
        };
        let text = format!("{auth:?}");
        assert!(text.contains("alice"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
