//! Dropping root (`--user NAME`, `--chroot DIR`, `--allow-root`).
//!
//! The server is started as root only so it can bind privileged ports. [`plan`] runs first thing
//! (before the database is opened): it refuses to go on as root without `--user` unless
//! `--allow-root` is given, and resolves the user while `/etc/passwd` is still reachable. Then
//! the database is opened and every socket bound, still as root, and [`apply`] drops privileges
//! before the first thread that serves queries starts: `chroot` (if asked) and `chdir("/")`,
//! `setgroups([])`, `setgid`, `setuid`, then a check that root cannot be regained.
//!
//! Everything the server reads after that is already open: the LMDB environment (data file
//! mapped, lock file open read-write), so neither the user's file permissions nor the chroot
//! have to grant access to the database. Only the query log is opened after the drop (so that a
//! SIGHUP reopen, which runs as the user, works exactly when the first open did).

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::config::Config;

/// The user to become.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub uid: libc::uid_t,
    pub gid: libc::gid_t,
    pub chroot: Option<PathBuf>,
}

/// Decides, before anything is opened, whether and to whom privileges will be dropped.
pub fn plan(config: &Config) -> anyhow::Result<Option<Target>> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    plan_for(euid, config.user.as_deref(), config.chroot.as_deref(), config.allow_root)
}

fn plan_for(euid: libc::uid_t, user: Option<&str>, chroot: Option<&Path>, allow_root: bool) -> anyhow::Result<Option<Target>> {
    let Some(name) = user else {
        if euid == 0 && !allow_root {
            bail!(
                "refusing to serve queries as root: pass --user NAME to bind as root and then drop to NAME, \
                 or --allow-root to run as root anyway"
            );
        }
        return Ok(None);
    };
    let (uid, gid) = lookup_user(name)?;
    if euid != 0 {
        bail!(
            "--user {name} needs the server to be started as root (it runs as uid {euid}): start it as root so it can bind \
             and then drop to {name}, or leave out --user (e.g. under systemd with User= and AmbientCapabilities=CAP_NET_BIND_SERVICE)"
        );
    }
    if uid == 0 && !allow_root {
        bail!("--user {name} is root (uid 0): name an unprivileged user, or pass --allow-root to run as root anyway");
    }
    Ok(Some(Target { name: name.to_string(), uid, gid, chroot: chroot.map(Path::to_path_buf) }))
}

/// The uid and primary gid of `name` (a name, or a numeric uid).
pub fn lookup_user(name: &str) -> anyhow::Result<(libc::uid_t, libc::gid_t)> {
    let cname = CString::new(name).with_context(|| format!("invalid user name {name:?}"))?;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: passwd is plain data; getpwnam_r writes into it and buf (with its length) only.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    let rc = unsafe { libc::getpwnam_r(cname.as_ptr(), &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc == 0 && !result.is_null() {
        return Ok((pwd.pw_uid, pwd.pw_gid));
    }
    if let Ok(uid) = name.parse::<libc::uid_t>() {
        // SAFETY: as above.
        let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
        if rc == 0 && !result.is_null() {
            return Ok((pwd.pw_uid, pwd.pw_gid));
        }
    }
    if rc != 0 {
        bail!("cannot look up user {name:?} for --user: {}", io::Error::from_raw_os_error(rc));
    }
    bail!("no such user {name:?} (given with --user)")
}

/// Chroots (if asked) and becomes the target user for good. Call before any thread is started.
pub fn apply(target: &Target) -> anyhow::Result<()> {
    if let Some(dir) = &target.chroot {
        let cdir = CString::new(dir.as_os_str().as_bytes()).context("invalid --chroot path")?;
        // SAFETY: plain syscalls on a NUL-terminated path.
        if unsafe { libc::chroot(cdir.as_ptr()) } != 0 {
            return Err(io::Error::last_os_error()).with_context(|| format!("cannot chroot to {}", dir.display()));
        }
        // SAFETY: as above.
        if unsafe { libc::chdir(c"/".as_ptr()) } != 0 {
            return Err(io::Error::last_os_error()).context("cannot chdir to / inside the chroot");
        }
    }
    let fail = |what: &str| Err(io::Error::last_os_error()).with_context(|| format!("cannot drop privileges to {} ({what})", target.name));
    // SAFETY: plain syscalls; setgroups with size 0 ignores the pointer.
    unsafe {
        if libc::setgroups(0, std::ptr::null()) != 0 {
            return fail("setgroups");
        }
        if libc::setgid(target.gid) != 0 {
            return fail("setgid");
        }
        if libc::setuid(target.uid) != 0 {
            return fail("setuid");
        }
        if target.uid != 0 && (libc::setuid(0) == 0 || libc::geteuid() == 0 || libc::getegid() != target.gid) {
            bail!("privileges could not be dropped to {}: root can still be regained", target.name);
        }
    }
    tracing::info!(user = %target.name, uid = target.uid, gid = target.gid, chroot = ?target.chroot, "dropped privileges");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_without_user_needs_allow_root() {
        let err = plan_for(0, None, None, false).unwrap_err().to_string();
        assert!(err.contains("--user") && err.contains("--allow-root"), "{err}");
        assert_eq!(plan_for(0, None, None, true).unwrap(), None);
        assert_eq!(plan_for(1000, None, None, false).unwrap(), None);
    }

    #[test]
    fn user_needs_root_and_an_existing_user() {
        let err = plan_for(1000, Some("root"), None, false).unwrap_err().to_string();
        assert!(err.contains("--user root needs the server to be started as root"), "{err}");
        let err = plan_for(0, Some("no-such-user-lmdns"), None, false).unwrap_err().to_string();
        assert!(err.contains("no such user"), "{err}");
        let err = plan_for(0, Some("root"), None, false).unwrap_err().to_string();
        assert!(err.contains("--allow-root"), "{err}");
        assert_eq!(lookup_user("0").unwrap(), (0, 0));
        let t = plan_for(0, Some("root"), Some(Path::new("/srv")), true).unwrap().unwrap();
        assert_eq!((t.uid, t.chroot), (0, Some(PathBuf::from("/srv"))));
    }
}
