//! Redis connections with deadlines, for the threads that talk to Redis
//! (the EVE output's and shared prevalence's): a Redis that hangs costs
//! each of them a bounded time, never a stuck thread.

use std::time::Duration;

/// Connects to `client`'s server within `timeout`; every read and write on
/// the connection then gives up after `timeout` too.
///
/// # Errors
/// The server cannot be reached or does not answer in time.
pub fn connect(client: &redis::Client, timeout: Duration) -> redis::RedisResult<redis::Connection> {
    let c = client.get_connection_with_timeout(timeout)?;
    c.set_write_timeout(Some(timeout))?;
    c.set_read_timeout(Some(timeout))?;
    Ok(c)
}
