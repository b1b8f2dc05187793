//! Keyword suggestions: "did you mean `lb_algo`?" for `1b_algo`.
//!
//! First a table of typos users really make, then the edit distance (with transpositions)
//! to the keywords valid at that place.

/// Typos seen in real files, mapped to what was meant.
const KNOWN_TYPOS: &[(&str, &str)] = &[
    ("1b_algo", "lb_algo"),
    ("1b_kind", "lb_kind"),
    ("lb_algorithm", "lb_algo"),
    ("virtual_ipaddres", "virtual_ipaddress"),
    ("virtual_ipadress", "virtual_ipaddress"),
    ("virtual_ip_address", "virtual_ipaddress"),
    ("virtual_ipaddresses", "virtual_ipaddress"),
    ("virtual_router", "virtual_router_id"),
    ("virtual_routerid", "virtual_router_id"),
    ("realserver", "real_server"),
    ("real-server", "real_server"),
    ("virtualserver", "virtual_server"),
    ("virtual-server", "virtual_server"),
    ("vrrp-instance", "vrrp_instance"),
    ("vrrp_instances", "vrrp_instance"),
    ("authentification", "authentication"),
    ("auth_password", "auth_pass"),
    ("unicast_peers", "unicast_peer"),
    ("unicast_src", "unicast_src_ip"),
    ("no_preempt", "nopreempt"),
    ("advertisement_int", "advert_int"),
    ("advert_interval", "advert_int"),
    ("connetc_port", "connect_port"),
    ("lvs_sync_daemon_inteface", "lvs_sync_daemon_interface"),
    ("SMTP_CHEKC", "SMTP_CHECK"),
];

/// The keyword `word` most probably stands for, among `candidates`.
///
/// `next` is the word that follows on the line: `real server` and `lb _kind` are one keyword
/// split by a stray blank.
pub(crate) fn keyword(word: &str, next: Option<&str>, candidates: &[&str]) -> Option<String> {
    if let Some((_, right)) = KNOWN_TYPOS.iter().find(|(typo, _)| *typo == word) {
        return Some((*right).to_string());
    }
    if let Some(next) = next {
        for joined in [format!("{word}_{next}"), format!("{word}{next}")] {
            if candidates.contains(&joined.as_str()) {
                return Some(joined);
            }
        }
    }
    // `mcast_src_ip=10.0.0.1`: keepalived has no `=`.
    if let Some((left, _)) = word.split_once('=')
        && candidates.contains(&left)
    {
        return Some(left.to_string());
    }
    closest(word, candidates)
}

/// The candidate nearest to `word` (ignoring case), if it is near enough to be a typo.
///
/// A candidate whose length differs by more than the limit is skipped unmeasured (the
/// distance is at least the difference): a long word (a stray binary file, say) costs no
/// table of its length times each keyword's.
pub(crate) fn closest(word: &str, candidates: &[&str]) -> Option<String> {
    let lower = word.to_ascii_lowercase();
    let len = word.chars().count();
    let limit = (len / 3).clamp(1, 3);
    candidates
        .iter()
        .filter(|c| c.chars().count().abs_diff(len) <= limit)
        .map(|c| (distance(&lower, &c.to_ascii_lowercase()), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_string())
}

/// Optimal string alignment distance: Levenshtein plus swaps of two neighbours.
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const VS: &[&str] = &[
        "lb_algo",
        "lb_kind",
        "real_server",
        "delay_loop",
        "protocol",
    ];

    #[test]
    fn known_typos() {
        assert_eq!(keyword("1b_algo", None, VS).as_deref(), Some("lb_algo"));
        assert_eq!(
            keyword("1b_kind", Some("NAT"), VS).as_deref(),
            Some("lb_kind")
        );
        assert_eq!(
            keyword("virtual_ipaddres", None, &[]).as_deref(),
            Some("virtual_ipaddress")
        );
    }

    #[test]
    fn split_keyword() {
        assert_eq!(
            keyword("real", Some("server"), VS).as_deref(),
            Some("real_server")
        );
        assert_eq!(keyword("lb", Some("_kind"), VS).as_deref(), Some("lb_kind"));
    }

    #[test]
    fn equals_sign() {
        assert_eq!(
            keyword("mcast_src_ip=10.0.0.1", None, &["mcast_src_ip"]).as_deref(),
            Some("mcast_src_ip")
        );
    }

    #[test]
    fn edit_distance() {
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("lb_aglo", "lb_algo"), 1);
        assert_eq!(
            keyword("dellay_loop", None, VS).as_deref(),
            Some("delay_loop")
        );
        assert_eq!(keyword("protcol", None, VS).as_deref(), Some("protocol"));
        assert_eq!(keyword("sudo", None, VS), None);
        assert_eq!(
            closest("master", &["MASTER", "BACKUP"]).as_deref(),
            Some("MASTER")
        );
    }

    /// Candidates skipped for their length are only those too far to be suggested: a word
    /// as far from a keyword as the limit allows, by length alone, still finds it.
    #[test]
    fn length_filter_keeps_the_near_ones() {
        // 8 characters: a limit of 2; `delay_loop` is 2 longer.
        assert_eq!(closest("delay_lo", VS).as_deref(), Some("delay_loop"));
        // 13 characters: a limit of 3; `delay_loop` is 3 shorter.
        assert_eq!(closest("DELAY_LOOPxyz", VS).as_deref(), Some("delay_loop"));
        assert_eq!(closest("delay_loopwxyz", VS), None);
        assert_eq!(closest(&"lb_algo".repeat(1000), VS), None);
    }
}
