//! When a failed delivery is tried again. The default schedule waits 5 s,
//! 5 min, 30 min, 2 h, 5 h, 10 h and 10 h after the successive failures:
//! eight attempts over about 27.6 hours, after which the delivery is
//! `failed` (a resend or a recover queues it again). Each wait is spread by
//! up to ±10 % so a receiver coming back is not hit by every retry at once;
//! a `Retry-After` the receiver sent replaces the wait (at most a day).

use std::time::Duration;

pub const DEFAULT: &str = "5s,5m,30m,2h,5h,10h,10h";

/// The longest wait a `Retry-After` may ask for.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// A schedule such as `5s,5m,2h` (units `ms`, `s`, `m`, `h`).
pub fn parse(text: &str) -> Result<Vec<Duration>, String> {
    text.split(',')
        .map(|part| {
            let part = part.trim();
            let split = part
                .find(|c: char| !c.is_ascii_digit())
                .ok_or_else(|| format!("{part:?} has no unit (ms, s, m or h)"))?;
            let (number, unit) = part.split_at(split);
            let n: u64 = number
                .parse()
                .map_err(|_| format!("{part:?} does not start with a number"))?;
            let millis = match unit {
                "ms" => n,
                "s" => n * 1000,
                "m" => n * 60_000,
                "h" => n * 3_600_000,
                _ => return Err(format!("{part:?}: the unit is ms, s, m or h")),
            };
            Ok(Duration::from_millis(millis))
        })
        .collect()
}

/// The wait after the `failures`-th failure in a row (1 for the first), or
/// `None` when the schedule is spent. `spread` in [-1, 1] picks the jitter.
pub fn wait_after(
    schedule: &[Duration],
    failures: u32,
    retry_after: Option<Duration>,
    spread: f64,
) -> Option<Duration> {
    let base = *schedule.get(failures.checked_sub(1)? as usize)?;
    if let Some(asked) = retry_after {
        return Some(asked.min(MAX_RETRY_AFTER));
    }
    let jitter = base.as_secs_f64() * 0.1 * spread.clamp(-1.0, 1.0);
    Some(Duration::from_secs_f64(
        (base.as_secs_f64() + jitter).max(0.0),
    ))
}

/// `Retry-After`: seconds, or an HTTP date (`now` is Unix seconds).
pub fn retry_after(value: &str, now: i64) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let format = time::format_description::well_known::Rfc2822;
    let at = time::OffsetDateTime::parse(value, &format).ok()?;
    Some(Duration::from_secs(
        u64::try_from(at.unix_timestamp() - now).unwrap_or(0),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_spans_about_a_day() {
        let schedule = parse(DEFAULT).unwrap();
        assert_eq!(schedule.len(), 7);
        let total: Duration = schedule.iter().sum();
        assert_eq!(
            total.as_secs(),
            5 + 300 + 1800 + 7200 + 18000 + 36000 + 36000
        );
        assert!((24..30).contains(&(total.as_secs() / 3600)));
    }

    #[test]
    fn waits_follow_the_schedule_with_jitter_and_end() {
        let schedule = parse("100ms,1s,1m").unwrap();
        assert_eq!(
            wait_after(&schedule, 1, None, 0.0),
            Some(Duration::from_millis(100))
        );
        assert_eq!(
            wait_after(&schedule, 3, None, 1.0),
            Some(Duration::from_secs(66))
        );
        assert_eq!(
            wait_after(&schedule, 3, None, -1.0),
            Some(Duration::from_secs(54))
        );
        assert_eq!(wait_after(&schedule, 4, None, 0.0), None);
        assert_eq!(wait_after(&schedule, 0, None, 0.0), None);
        // Retry-After replaces the wait, capped at a day, but not the end.
        let asked = Some(Duration::from_secs(7));
        assert_eq!(
            wait_after(&schedule, 1, asked, 1.0),
            Some(Duration::from_secs(7))
        );
        let huge = Some(Duration::from_secs(10 * 24 * 3600));
        assert_eq!(wait_after(&schedule, 1, huge, 0.0), Some(MAX_RETRY_AFTER));
        assert_eq!(wait_after(&schedule, 4, asked, 0.0), None);
    }

    #[test]
    fn schedules_and_retry_after_parse() {
        assert!(parse("5x").is_err());
        assert!(parse("s").is_err());
        assert!(parse("").is_err());
        assert_eq!(retry_after("120", 0), Some(Duration::from_secs(120)));
        let now = 1_445_412_480; // Wed, 21 Oct 2015 07:28:00 GMT
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", now), None);
    }
}
