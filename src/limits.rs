//! Process-wide resource limits.

/// Raises the soft limit on open files to the hard limit. A collector holds a handle on
/// every file it follows, and on every file opened as it appeared until the reader gets to it
/// (many, when Docker rotates logs fast while the bus holds the reader back); the usual soft
/// limit of 1024 would then starve the process of descriptors for its sockets and checkpoints.
pub fn raise_open_files_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct it is given, which outlives the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return;
    }
    if limit.rlim_cur >= limit.rlim_max {
        return;
    }
    let soft = limit.rlim_cur;
    limit.rlim_cur = limit.rlim_max;
    // SAFETY: setrlimit only reads the struct it is given.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        tracing::debug!(
            error = %std::io::Error::last_os_error(),
            soft,
            "open files limit left as it is"
        );
        return;
    }
    tracing::debug!(from = soft, to = limit.rlim_max, "open files limit raised");
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_soft_open_files_limit_reaches_the_hard_one() {
        super::raise_open_files_limit();
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: as in raise_open_files_limit.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
            0
        );
        assert_eq!(limit.rlim_cur, limit.rlim_max);
    }
}
