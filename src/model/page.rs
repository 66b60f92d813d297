//! Trove's marker paging: a listing sorted by a key, cut after (or at) a
//! marker. The marker from the wire is only ever compared with keys, never
//! put into SQL.

/// One page of a sorted listing, as Trove asks for it.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// At most this many items; `None` for all.
    pub limit: Option<usize>,
    /// Start after (or at, with `include_marker`) this key.
    pub marker: Option<String>,
    /// Whether the marker's own item is included.
    pub include_marker: bool,
}

impl Page {
    /// Cuts a listing sorted by `key` into this page. Returns the items and the
    /// marker of the next page (the last item's key) when more remain.
    pub fn apply<T>(&self, items: Vec<T>, key: impl Fn(&T) -> String) -> (Vec<T>, Option<String>) {
        let mut out = Vec::new();
        let mut more = false;
        for item in items {
            if let Some(m) = &self.marker {
                let k = key(&item);
                let after = if self.include_marker {
                    k.as_str() >= m.as_str()
                } else {
                    k.as_str() > m.as_str()
                };
                if !after {
                    continue;
                }
            }
            if self.limit.is_some_and(|l| out.len() >= l) {
                more = true;
                break;
            }
            out.push(item);
        }
        let next = if more { out.last().map(&key) } else { None };
        (out, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(p: &Page, items: &[&str]) -> (Vec<String>, Option<String>) {
        let v: Vec<String> = items.iter().map(|s| s.to_string()).collect();
        p.apply(v, |s| s.clone())
    }

    #[test]
    fn paging() {
        let all = ["a", "b", "c", "d"];
        let p = Page {
            limit: Some(2),
            ..Page::default()
        };
        assert_eq!(
            keys(&p, &all),
            (vec!["a".into(), "b".into()], Some("b".into()))
        );
        let p = Page {
            limit: Some(2),
            marker: Some("b".into()),
            include_marker: false,
        };
        assert_eq!(keys(&p, &all), (vec!["c".into(), "d".into()], None));
        let p = Page {
            limit: Some(2),
            marker: Some("b".into()),
            include_marker: true,
        };
        assert_eq!(
            keys(&p, &all),
            (vec!["b".into(), "c".into()], Some("c".into()))
        );
        let p = Page {
            limit: Some(4),
            ..Page::default()
        };
        assert_eq!(keys(&p, &all).1, None);
        let p = Page {
            limit: None,
            marker: Some("bb".into()),
            include_marker: false,
        };
        assert_eq!(keys(&p, &all).0, vec!["c".to_string(), "d".into()]);
        // A bare user name sorts before all of that user's `name@host` keys.
        let p = Page {
            limit: None,
            marker: Some("bob".into()),
            include_marker: false,
        };
        assert_eq!(
            keys(&p, &["alice@%", "bob@%", "bob@10.%", "carl@%"])
                .0
                .len(),
            3
        );
    }
}
