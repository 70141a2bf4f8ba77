//! A connection's share of its vendor quota: at most `limit` calls in any rolling `window`.
//! Vendors count calls per rolling window (Halo: 300 per 5 minutes) and share the quota with
//! the partner's other tools, so we keep a log of our own calls rather than a token bucket,
//! which would allow twice its size across a window boundary.

use std::{
    collections::VecDeque,
    sync::Mutex,
    time::{Duration, Instant},
};

/// A rolling-window call budget.
pub struct RollingBudget {
    limit: usize,
    window: Duration,
    calls: Mutex<VecDeque<Instant>>,
}

impl RollingBudget {
    /// `limit` calls per `window`.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit: (limit as usize).max(1),
            window,
            calls: Mutex::new(VecDeque::new()),
        }
    }

    /// Spends one call now, or says how long until one is free.
    pub fn try_take(&self) -> Result<(), Duration> {
        let now = Instant::now();
        let mut calls = self.calls.lock().expect("budget lock");
        while calls
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            calls.pop_front();
        }
        if calls.len() < self.limit {
            calls.push_back(now);
            return Ok(());
        }
        let oldest = *calls.front().expect("a full log has a front");
        Err((oldest + self.window).saturating_duration_since(now) + Duration::from_millis(1))
    }

    /// Spends one call, waiting for a free one if that takes at most `max_wait`; otherwise
    /// returns how long the caller would have had to wait.
    pub async fn take(&self, max_wait: Duration) -> Result<(), Duration> {
        loop {
            match self.try_take() {
                Ok(()) => return Ok(()),
                Err(wait) if wait <= max_wait => tokio::time::sleep(wait).await,
                Err(wait) => return Err(wait),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_the_limit_and_says_how_long() {
        let b = RollingBudget::new(2, Duration::from_secs(60));
        assert!(b.try_take().is_ok());
        assert!(b.try_take().is_ok());
        let wait = b.try_take().unwrap_err();
        assert!(wait > Duration::from_secs(59) && wait <= Duration::from_secs(61));
    }

    #[tokio::test]
    async fn waits_for_the_window_to_roll() {
        let b = RollingBudget::new(3, Duration::from_millis(50));
        let started = Instant::now();
        for _ in 0..7 {
            b.take(Duration::from_secs(1)).await.unwrap();
        }
        // 7 calls at 3 per 50 ms need two full windows.
        assert!(started.elapsed() >= Duration::from_millis(100));
        let mut more = 0;
        while b.take(Duration::ZERO).await.is_ok() {
            more += 1;
        }
        assert!(
            more <= 3,
            "at most a window's worth without waiting: {more}"
        );
    }
}
