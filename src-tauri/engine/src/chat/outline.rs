//! A file's *outline*: the BLAKE3 chaining values of its 512 KiB groups, so each range fetched
//! from a friend is checked on arrival against the track's hash, not only the whole file at the
//! end (pure; design §6 `transfer`).
//!
//! BLAKE3 hashes a file as a binary tree of 1 KiB chunks whose left subtrees are the largest
//! power of two of chunks that leaves something on the right. Every 512 KiB-aligned group
//! (2^9 chunks; the last may be short) is therefore a subtree of the file's tree, and the groups'
//! chaining values combine, by the same rule, into the file's hash. The fetcher checks the
//! outline it is sent against the hash it asked for (a wrong outline cannot produce the right
//! root), then each group against its chaining value — so a damaged range is found, and fetched
//! again, the moment it arrives. A file of one group or less is checked whole.

use std::io::Read;

use blake3::hazmat::{
    left_subtree_len, merge_subtrees_non_root, merge_subtrees_root, ChainingValue, HasherExt, Mode,
};

use super::log::Hash32;

/// The size of a group, and of a range asked for at once.
pub const GROUP: u64 = 512 * 1024;

/// How many groups a file of `total` bytes has (an outline lists them when there are two or
/// more).
pub fn groups(total: u64) -> u64 {
    total.div_ceil(GROUP)
}

/// Whether a file of `total` bytes has an outline (else it is checked whole).
pub fn outlined(total: u64) -> bool {
    total > GROUP
}

/// The chaining value of the group that starts at `offset` of a file larger than one group.
pub fn group_cv(data: &[u8], offset: u64) -> ChainingValue {
    blake3::Hasher::new()
        .set_input_offset(offset)
        .update(data)
        .finalize_non_root()
}

/// Reads a whole file of `total` bytes and returns its hash and, when it has more than one
/// group, its outline.
pub fn outline_of(
    mut reader: impl Read,
    total: u64,
) -> std::io::Result<(Hash32, Vec<ChainingValue>)> {
    let mut buffer = vec![0u8; GROUP as usize];
    if !outlined(total) {
        let mut data = Vec::new();
        reader.take(GROUP + 1).read_to_end(&mut data)?;
        if data.len() as u64 != total {
            return Err(std::io::Error::other("the file changed while it was read"));
        }
        return Ok((Hash32(*blake3::hash(&data).as_bytes()), Vec::new()));
    }
    let mut cvs = Vec::with_capacity(groups(total) as usize);
    let mut offset = 0u64;
    while offset < total {
        let length = GROUP.min(total - offset) as usize;
        reader.read_exact(&mut buffer[..length])?;
        cvs.push(group_cv(&buffer[..length], offset));
        offset += length as u64;
    }
    let root = root_of(&cvs, total)
        .ok_or_else(|| std::io::Error::other("the outline has the wrong number of groups"))?;
    Ok((root, cvs))
}

/// The file's hash from its outline; `None` when the outline has the wrong number of groups.
pub fn root_of(cvs: &[ChainingValue], total: u64) -> Option<Hash32> {
    if !outlined(total) || cvs.len() as u64 != groups(total) {
        return None;
    }
    let left = left_subtree_len(total);
    let split = (left / GROUP) as usize;
    let l = subtree(&cvs[..split], left);
    let r = subtree(&cvs[split..], total - left);
    Some(Hash32(*merge_subtrees_root(&l, &r, Mode::Hash).as_bytes()))
}

/// The chaining value of the subtree of `len` bytes made of these groups.
fn subtree(cvs: &[ChainingValue], len: u64) -> ChainingValue {
    if len <= GROUP {
        return cvs[0];
    }
    let left = left_subtree_len(len);
    let split = (left / GROUP) as usize;
    let l = subtree(&cvs[..split], left);
    let r = subtree(&cvs[split..], len - left);
    merge_subtrees_non_root(&l, &r, Mode::Hash)
}

/// Whether `data`, the group at `offset` of a file of `total` bytes whose hash is `hash`, is
/// what the (already checked) outline says it is.
pub fn group_ok(
    data: &[u8],
    offset: u64,
    total: u64,
    hash: &Hash32,
    cvs: &[ChainingValue],
) -> bool {
    if !offset.is_multiple_of(GROUP) {
        return false;
    }
    let expected_len = GROUP.min(total.saturating_sub(offset));
    if data.len() as u64 != expected_len {
        return false;
    }
    if !outlined(total) {
        return blake3::hash(data).as_bytes() == &hash.0;
    }
    cvs.get((offset / GROUP) as usize)
        .is_some_and(|cv| *cv == group_cv(data, offset))
}

/// Packs an outline for the wire (32 bytes per group).
pub fn pack(cvs: &[ChainingValue]) -> Vec<u8> {
    cvs.concat()
}

/// Unpacks an outline from the wire; `None` when it is not a whole number of values.
pub fn unpack(bytes: &[u8]) -> Option<Vec<ChainingValue>> {
    if !bytes.len().is_multiple_of(32) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(32)
            .map(|c| {
                let mut cv = [0u8; 32];
                cv.copy_from_slice(c);
                cv
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn the_outline_of_any_size_combines_into_the_files_hash() {
        let g = GROUP as usize;
        for len in [
            0,
            1,
            1024,
            g - 1,
            g,
            g + 1,
            2 * g,
            2 * g + 5,
            3 * g,
            5 * g - 1,
            8 * g + 1,
        ] {
            let data = bytes(len);
            let (root, cvs) = outline_of(&data[..], len as u64).unwrap();
            assert_eq!(root.0, *blake3::hash(&data).as_bytes(), "length {len}");
            assert_eq!(
                cvs.len() as u64,
                if outlined(len as u64) {
                    groups(len as u64)
                } else {
                    0
                }
            );
            let mut offset = 0;
            while offset < len {
                let end = (offset + g).min(len);
                assert!(
                    group_ok(&data[offset..end], offset as u64, len as u64, &root, &cvs),
                    "group at {offset} of {len}"
                );
                offset = end;
            }
        }
    }

    #[test]
    fn a_damaged_group_is_caught_and_the_others_still_pass() {
        let len = 3 * GROUP as usize + 100;
        let data = bytes(len);
        let (root, cvs) = outline_of(&data[..], len as u64).unwrap();
        let g = GROUP as usize;
        let mut damaged = data[g..2 * g].to_vec();
        damaged[777] ^= 1;
        assert!(!group_ok(&damaged, GROUP, len as u64, &root, &cvs));
        assert!(group_ok(&data[..g], 0, len as u64, &root, &cvs));
        assert!(
            !group_ok(&data[..g - 1], 0, len as u64, &root, &cvs),
            "short"
        );
        assert!(
            !group_ok(&data[g..2 * g], 0, len as u64, &root, &cvs),
            "moved"
        );
    }

    #[test]
    fn an_outline_that_does_not_add_up_to_the_hash_is_refused() {
        let len = 4 * GROUP + 1;
        let data = bytes(len as usize);
        let (root, mut cvs) = outline_of(&data[..], len).unwrap();
        assert_eq!(root_of(&cvs, len), Some(root));
        cvs[2][0] ^= 1;
        assert_ne!(root_of(&cvs, len), Some(root), "a forged value");
        cvs.pop();
        assert_eq!(root_of(&cvs, len), None, "a value missing");
        assert_eq!(unpack(&[0; 33]), None);
        assert_eq!(unpack(&pack(&cvs)), Some(cvs));
    }
}
