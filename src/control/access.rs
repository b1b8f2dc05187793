//! Who may do what on the control socket.
//!
//! The socket file is `root:GROUP` mode 0660 (`vipd --socket-group GROUP`). Anyone who can
//! open it may read (status, watch); requests that change state (reload, handover,
//! maintenance) are only served to uid 0, to vipd's own uid, and to members of GROUP, checked
//! from the peer's credentials (SO_PEERCRED) when the request arrives, not from the file's
//! permissions: an operator may widen read access (an ACL, a looser mode) without handing out
//! control.

use std::fs;

use tokio::net::unix::UCred;

/// The control socket's access policy.
#[derive(Debug, Clone, Default)]
pub(crate) struct Access {
    /// The group allowed to change state, as (name, gid); `None` = root only.
    pub(crate) group: Option<(String, u32)>,
}

impl Access {
    /// Resolves `--socket-group NAME` (or a numeric gid); `None` = root only.
    pub(crate) fn from_group(name: Option<&str>) -> Result<Self, String> {
        let Some(name) = name else {
            return Ok(Self::default());
        };
        let group = match name.parse::<u32>() {
            Ok(gid) => nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid)),
            Err(_) => nix::unistd::Group::from_name(name),
        };
        match group {
            Ok(Some(g)) => Ok(Self {
                group: Some((g.name, g.gid.as_raw())),
            }),
            Ok(None) => Err(format!("socket group {name} does not exist")),
            Err(e) => Err(format!("cannot look up socket group {name}: {e}")),
        }
    }

    /// The gid the socket file should belong to.
    pub(crate) fn gid(&self) -> Option<u32> {
        self.group.as_ref().map(|(_, gid)| *gid)
    }

    /// `Ok` when the peer may send requests that change state, else why not.
    pub(crate) fn may_change_state(&self, peer: &UCred) -> Result<(), String> {
        let uid = peer.uid();
        if uid == 0 || uid == nix::unistd::geteuid().as_raw() {
            return Ok(());
        }
        if let Some((name, gid)) = &self.group {
            if peer.gid() == *gid {
                return Ok(());
            }
            if let Some(pid) = peer.pid()
                && supplementary_groups(pid).contains(gid)
            {
                return Ok(());
            }
            return Err(format!(
                "permission denied: uid {uid} is neither root nor in group {name}; \
                 only they may change state (status and watch are open to you)"
            ));
        }
        Err(format!(
            "permission denied: uid {uid} is not root; only root may change state (vipd runs \
             without --socket-group; status and watch are open to you)"
        ))
    }
}

/// The supplementary groups of a process, from `/proc/PID/status`; empty if it is gone.
fn supplementary_groups(pid: i32) -> Vec<u32> {
    let Ok(text) = fs::read_to_string(format!("/proc/{pid}/status")) else {
        return Vec::new();
    };
    parse_groups(&text)
}

fn parse_groups(status: &str) -> Vec<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Groups:"))
        .map(|rest| {
            rest.split_whitespace()
                .filter_map(|g| g.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn groups_line_is_parsed() {
        let status =
            "Name:\tbash\nUid:\t1000\t1000\t1000\t1000\nGroups:\t4 24 27 1000 \nNgid:\t0\n";
        assert_eq!(parse_groups(status), vec![4, 24, 27, 1000]);
        assert!(parse_groups("Groups:\n").is_empty());
        assert!(parse_groups("").is_empty());
    }

    #[test]
    fn unknown_group_is_an_error_naming_it() {
        let e = Access::from_group(Some("no-such-group-vipd")).unwrap_err();
        assert!(e.contains("no-such-group-vipd"), "{e}");
        assert!(Access::from_group(None).unwrap().group.is_none());
        assert_eq!(Access::from_group(Some("0")).unwrap().gid(), Some(0));
    }
}
