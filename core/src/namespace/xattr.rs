//! Extended attributes of one inode: a small sorted list of (name, value) pairs.
//!
//! Names are full names with their namespace prefix (`user.lang`). The list is kept sorted by
//! name, so listing is deterministic and lookup is a binary search. Limits (name length, value
//! size, total list size) are enforced by the engine before anything is stored here.

/// One attribute: full name and value.
type Item = (Box<[u8]>, Box<[u8]>);

/// The attributes of one inode.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Xattrs {
    items: Vec<Item>,
}

impl Xattrs {
    fn find(&self, name: &[u8]) -> Result<usize, usize> {
        self.items.binary_search_by(|(n, _)| (**n).cmp(name))
    }

    /// The value of `name`.
    pub fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.find(name).ok().map(|i| &*self.items[i].1)
    }

    /// The value of the attribute whose name is `prefix` followed by `key`, without building
    /// the full name (filters look up `user.` + key for every node a search visits).
    pub fn get_prefixed(&self, prefix: &[u8], key: &[u8]) -> Option<&[u8]> {
        let i = self
            .items
            .binary_search_by(|(n, _)| {
                let (head, tail) = n.split_at(n.len().min(prefix.len()));
                head.cmp(prefix).then_with(|| tail.cmp(key))
            })
            .ok()?;
        Some(&*self.items[i].1)
    }

    /// Sets `name` to `value`, returning the previous value.
    pub fn set(&mut self, name: &[u8], value: &[u8]) -> Option<Box<[u8]>> {
        match self.find(name) {
            Ok(i) => Some(std::mem::replace(&mut self.items[i].1, value.into())),
            Err(i) => {
                self.items.insert(i, (name.into(), value.into()));
                None
            }
        }
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: &[u8]) -> Option<Box<[u8]>> {
        let i = self.find(name).ok()?;
        Some(self.items.remove(i).1)
    }

    /// Whether `name` exists.
    pub fn contains(&self, name: &[u8]) -> bool {
        self.find(name).is_ok()
    }

    /// All attributes in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.items.iter().map(|(n, v)| (&**n, &**v))
    }

    /// Number of attributes.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Bytes `listxattr` needs: every name plus its NUL terminator.
    pub fn list_len(&self) -> usize {
        self.items.iter().map(|(n, _)| n.len() + 1).sum()
    }

    /// Bytes held by names and values.
    pub fn bytes(&self) -> usize {
        self.items.iter().map(|(n, v)| n.len() + v.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_set_get_remove() {
        let mut x = Xattrs::default();
        assert_eq!(x.set(b"user.b", b"2"), None);
        assert_eq!(x.set(b"user.a", b"1"), None);
        assert_eq!(x.set(b"trusted.z", b"3"), None);
        assert_eq!(x.set(b"user.a", b"one").as_deref(), Some(&b"1"[..]));
        let names: Vec<&[u8]> = x.iter().map(|(n, _)| n).collect();
        assert_eq!(names, vec![&b"trusted.z"[..], b"user.a", b"user.b"]);
        assert_eq!(x.get_prefixed(b"user.", b"a"), Some(&b"one"[..]));
        assert_eq!(x.get_prefixed(b"user.", b"z"), None);
        assert_eq!(x.get_prefixed(b"trusted.", b"z"), Some(&b"3"[..]));
        assert_eq!(x.list_len(), 10 + 7 + 7);
        assert_eq!(x.remove(b"user.b").as_deref(), Some(&b"2"[..]));
        assert!(!x.contains(b"user.b"));
        assert_eq!(x.len(), 2);
    }
}
