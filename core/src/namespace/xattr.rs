//! Extended attributes of one inode: a small sorted list of (name, value) pairs.
//!
//! Names are full names with their namespace prefix (`user.lang`). The list is kept sorted by
//! name, so listing is deterministic and lookup is a binary search. Limits (name length, value
//! size, total list size) are enforced by the engine before anything is stored here.
//!
//! A value is either held here ([`Value::Inline`]) or held by the index of a collection
//! ([`Value::Held`]): a file's indexed vector lives once in memory, in the index's node record,
//! and the attribute only names the collection directory whose index holds it under this
//! inode's number (and its length, for sizes). This module only stores the reference; which
//! values are held, and resolving them, belong to `crate::collections` (the layer above,
//! which owns the indexes): see `Collections::settle` and `Collections::resolve`.

use crate::types::Ino;

/// A stored value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stored {
    Inline(Box<[u8]>),
    Held { dir: Ino, len: u32 },
}

/// A value as read: its bytes, or the collection whose index holds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// The bytes, held by the attribute list.
    Inline(&'a [u8]),
    /// `len` bytes held by the index of collection directory `dir`, labelled by the inode.
    Held {
        /// The collection directory.
        dir: Ino,
        /// Length of the value in bytes.
        len: usize,
    },
}

impl<'a> Value<'a> {
    /// Length of the value in bytes.
    pub fn len(&self) -> usize {
        match *self {
            Value::Inline(b) => b.len(),
            Value::Held { len, .. } => len,
        }
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes of an inline value; `None` when an index holds them.
    pub fn inline(self) -> Option<&'a [u8]> {
        match self {
            Value::Inline(b) => Some(b),
            Value::Held { .. } => None,
        }
    }

    /// The collection directory holding the value, when one does.
    pub fn held_by(self) -> Option<Ino> {
        match self {
            Value::Inline(_) => None,
            Value::Held { dir, .. } => Some(dir),
        }
    }
}

impl Stored {
    fn view(&self) -> Value<'_> {
        match self {
            Stored::Inline(b) => Value::Inline(b),
            &Stored::Held { dir, len } => Value::Held {
                dir,
                len: len as usize,
            },
        }
    }
}

/// One attribute: full name and value.
type Item = (Box<[u8]>, Stored);

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
    pub fn get(&self, name: &[u8]) -> Option<Value<'_>> {
        self.find(name).ok().map(|i| self.items[i].1.view())
    }

    /// The value of the attribute whose name is `prefix` followed by `key`, without building
    /// the full name (filters look up `user.` + key for every node a search visits).
    pub fn get_prefixed(&self, prefix: &[u8], key: &[u8]) -> Option<Value<'_>> {
        let i = self
            .items
            .binary_search_by(|(n, _)| {
                let (head, tail) = n.split_at(n.len().min(prefix.len()));
                head.cmp(prefix).then_with(|| tail.cmp(key))
            })
            .ok()?;
        Some(self.items[i].1.view())
    }

    /// Sets `name` to the inline `value`; true when it replaced a value.
    pub fn set(&mut self, name: &[u8], value: &[u8]) -> bool {
        self.put(name, Stored::Inline(value.into()))
    }

    /// Sets `name` to `len` bytes held by the index of collection `dir` (the caller has
    /// checked that it holds them); true when it replaced a value (an inline one is freed).
    pub fn set_held(&mut self, name: &[u8], dir: Ino, len: usize) -> bool {
        let len = u32::try_from(len).expect("attribute values are at most 64 KiB");
        self.put(name, Stored::Held { dir, len })
    }

    fn put(&mut self, name: &[u8], value: Stored) -> bool {
        match self.find(name) {
            Ok(i) => {
                self.items[i].1 = value;
                true
            }
            Err(i) => {
                self.items.insert(i, (name.into(), value));
                false
            }
        }
    }

    /// Removes `name`; false when there was no such attribute.
    pub fn remove(&mut self, name: &[u8]) -> bool {
        match self.find(name) {
            Ok(i) => {
                self.items.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    /// Whether `name` exists.
    pub fn contains(&self, name: &[u8]) -> bool {
        self.find(name).is_ok()
    }

    /// All attributes in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], Value<'_>)> {
        self.items.iter().map(|(n, v)| (&**n, v.view()))
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

    /// Bytes held here by names and inline values (a held value's bytes are its index's).
    pub fn bytes(&self) -> usize {
        self.items
            .iter()
            .map(|(n, v)| n.len() + v.view().inline().map_or(0, <[u8]>::len))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_set_get_remove() {
        let mut x = Xattrs::default();
        assert!(!x.set(b"user.b", b"2"));
        assert!(!x.set(b"user.a", b"1"));
        assert!(!x.set(b"trusted.z", b"3"));
        assert!(x.set(b"user.a", b"one"));
        let names: Vec<&[u8]> = x.iter().map(|(n, _)| n).collect();
        assert_eq!(names, vec![&b"trusted.z"[..], b"user.a", b"user.b"]);
        assert_eq!(x.get_prefixed(b"user.", b"a"), Some(Value::Inline(b"one")));
        assert_eq!(x.get_prefixed(b"user.", b"z"), None);
        assert_eq!(x.get_prefixed(b"trusted.", b"z"), Some(Value::Inline(b"3")));
        assert_eq!(x.list_len(), 10 + 7 + 7);
        assert!(x.remove(b"user.b"));
        assert!(!x.remove(b"user.b"));
        assert!(!x.contains(b"user.b"));
        assert_eq!(x.len(), 2);
    }

    #[test]
    fn held_values_keep_their_length_and_go_back_inline() {
        let mut x = Xattrs::default();
        x.set(b"user.vexfs.vector", &[1, 2, 3, 4]);
        assert_eq!(x.bytes(), 17 + 4);
        assert!(x.set_held(b"user.vexfs.vector", 7, 4));
        let v = x.get(b"user.vexfs.vector").unwrap();
        assert_eq!(v, Value::Held { dir: 7, len: 4 });
        assert_eq!((v.len(), v.inline(), v.held_by()), (4, None, Some(7)));
        assert_eq!(x.bytes(), 17);
        assert!(x.set(b"user.vexfs.vector", &[5, 6]));
        assert_eq!(x.get(b"user.vexfs.vector"), Some(Value::Inline(&[5, 6])));
        assert_eq!(x.get(b"user.vexfs.vector").unwrap().held_by(), None);
    }
}
