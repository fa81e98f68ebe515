//! Received header sections, moved out of quiche without copying.

use crate::validate::Field;

/// A received header section (request, response, interim or trailers).
///
/// It owns the list quiche decoded; filo moves it into the event rather than
/// copying it. Iterate it as `(name, value)` byte-slice pairs.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HeaderList {
    fields: Vec<quiche::h3::Header>,
}

impl HeaderList {
    pub(crate) fn from_quiche(fields: Vec<quiche::h3::Header>) -> Self {
        Self { fields }
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether the section has no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The fields in wire order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&[u8], &[u8])> + '_ {
        self.fields.iter().map(|f| (f.name(), f.value()))
    }

    /// The value of the first field called `name` (lowercase).
    pub fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The value of the first field called `name`, as UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        std::str::from_utf8(self.get(name.as_bytes())?).ok()
    }

    /// `:status` as a number (responses).
    pub fn status(&self) -> Option<u16> {
        self.get_str(":status")?.parse().ok()
    }

    /// `:method` (requests).
    pub fn method(&self) -> Option<&str> {
        self.get_str(":method")
    }

    /// `:path` (requests).
    pub fn path(&self) -> Option<&str> {
        self.get_str(":path")
    }

    /// `:authority` (requests).
    pub fn authority(&self) -> Option<&str> {
        self.get_str(":authority")
    }

    /// The fields as owned `(name, value)` pairs.
    pub fn to_pairs(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.iter().map(|(n, v)| (n.to_vec(), v.to_vec())).collect()
    }

    pub(crate) fn fields(&self) -> &[quiche::h3::Header] {
        &self.fields
    }
}

impl std::fmt::Debug for HeaderList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|(n, v)| {
                format!(
                    "{}: {}",
                    String::from_utf8_lossy(n),
                    String::from_utf8_lossy(v)
                )
            }))
            .finish()
    }
}
