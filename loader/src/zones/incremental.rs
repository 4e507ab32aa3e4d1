//! Record edits that touch only what changed: the owner's node, the ancestors it needs as empty
//! non-terminals (created on the way down, pruned on the way up), its parent's wildcard flag,
//! and the names below it when a delegation or DNAME appears or goes (their occlusion flags).
//! The result is byte for byte what importing the edited zone whole would store: the flags are
//! those of [`super::build::ZoneTree::finish`], kept up to date instead of recomputed.

use std::ops::Bound;

use lmdb_schema::name;
use lmdb_schema::node::{flags, Node, Rrset, Section};
use lmdb_schema::rtype;

use super::build::{check_name, covered_type, rdata_equal, whoami_error, WHOAMI_NO_RECORDS};
use super::writer::ZoneWriter;
use super::{lmdb, BuildError, Rr, ZoneError};

/// A name's key and its stored node bytes.
type StoredName = (Vec<u8>, Vec<u8>);

/// Where a section sits with respect to delegations and DNAMEs of its zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Occlusion {
    /// Label count of the occluding delegation or DNAME owner, if below one.
    cut: Option<u8>,
}

/// True if the section delegates or rewrites the names below it (and is not itself occluded,
/// which would make the higher owner the occluder).
fn occludes(section: &Section) -> bool {
    section.flags & flags::BELOW_CUT == 0
        && (section.flags & flags::DNAME != 0 || (section.flags & flags::CUT != 0 && section.flags & flags::APEX == 0))
}

/// The occlusion the children of `section` (at `labels` labels) inherit.
fn inherited(section: &Section, labels: u8) -> Occlusion {
    if section.flags & flags::BELOW_CUT != 0 {
        Occlusion { cut: Some(section.cut) }
    } else if occludes(section) {
        Occlusion { cut: Some(labels) }
    } else {
        Occlusion { cut: None }
    }
}

fn apply_occlusion(section: &mut Section, occlusion: Occlusion) {
    match occlusion.cut {
        Some(cut) => {
            section.flags |= flags::BELOW_CUT;
            section.cut = cut;
        }
        None => {
            section.flags &= !flags::BELOW_CUT;
            section.cut = 0;
        }
    }
}

/// The smallest key after every name at or below `key` (keys below a name extend its key past
/// its final separator; one more than the separator sorts after all of them).
fn after_subtree(key: &[u8]) -> Vec<u8> {
    let mut next = key.to_vec();
    *next.last_mut().expect("keys are never empty") += 1;
    next
}

impl ZoneWriter<'_, '_> {
    /// Names strictly below `key` holding a section of zone `depth`, in canonical order, with
    /// their stored bytes. A zone's names are closed under ancestors (empty non-terminals), so
    /// a name without a section of the zone has none below it either: its subtree (say, a
    /// deeper zone served here) is skipped, not scanned. With `first_only`, stops at the first.
    fn zone_names_below(&self, key: &[u8], depth: u8, first_only: bool) -> Result<Vec<StoredName>, ZoneError> {
        let mut found = Vec::new();
        let mut from = Bound::Excluded(key.to_vec());
        'restart: loop {
            let range = (from.as_ref().map(Vec::as_slice), Bound::Unbounded);
            for item in self.store.names.range(self.txn, &range).map_err(lmdb(self.store))? {
                let (k, v) = item.map_err(lmdb(self.store))?;
                if !k.starts_with(key) {
                    break 'restart;
                }
                let node = lmdb_schema::node::NodeView::parse_strict(v)
                    .map_err(|e| ZoneError::Corrupt(format!("{}: {e}", name::key_to_text(k))))?;
                if node.section(depth).is_none() {
                    from = Bound::Included(after_subtree(k));
                    continue 'restart;
                }
                found.push((k.to_vec(), v.to_vec()));
                if first_only {
                    break 'restart;
                }
            }
            break;
        }
        Ok(found)
    }

    /// Makes sure every ancestor of `key` down from the nearest existing one has a section of
    /// zone `depth` (empty non-terminals), and returns the occlusion `key` inherits.
    fn ensure_ancestors(&mut self, key: &[u8], depth: u8) -> Result<Occlusion, ZoneError> {
        let mut missing = Vec::new();
        let mut at = name::parent(key);
        let occlusion = loop {
            let Some(parent) = at else {
                return Err(ZoneError::Corrupt(format!("zone of {} has no apex section", name::key_to_text(key))));
            };
            let (old, node) = self.load(parent)?;
            if let Some(section) = node.section(depth) {
                break inherited(section, name::label_count(parent) as u8);
            }
            missing.push((parent.to_vec(), old, node));
            at = name::parent(parent);
        };
        // Create from the top down, so each new name's parent exists when its wildcard flag is set.
        for (parent, old, mut node) in missing.into_iter().rev() {
            if old.is_none() {
                node.deepest = depth;
            }
            apply_occlusion(node.section_or_insert(depth), occlusion);
            self.store_node(&parent, &mut node, old.as_deref())?;
            self.section_created(&parent, depth)?;
        }
        Ok(occlusion)
    }

    /// Bookkeeping after a section of zone `depth` appeared at `key`: a wildcard's parent
    /// learns it has a wildcard child.
    fn section_created(&mut self, key: &[u8], depth: u8) -> Result<(), ZoneError> {
        if name::is_wildcard(key) {
            self.set_parent_flag(key, depth, flags::WILDCARD_CHILD, true)?;
        }
        Ok(())
    }

    fn set_parent_flag(&mut self, key: &[u8], depth: u8, flag: u8, on: bool) -> Result<(), ZoneError> {
        let Some(parent) = name::parent(key) else { return Ok(()) };
        let parent = parent.to_vec();
        let (old, mut node) = self.load(&parent)?;
        if let Some(section) = node.section_mut(depth) {
            if on {
                section.flags |= flag;
            } else {
                section.flags &= !flag;
            }
        }
        self.store_node(&parent, &mut node, old.as_deref())
    }

    /// The node at `key` with a section of zone `depth`, created (with its ancestors) if the
    /// name does not exist in the zone yet.
    fn node_for_write(&mut self, key: &[u8], depth: u8) -> Result<(Option<Vec<u8>>, Node, bool), ZoneError> {
        let (old, mut node) = self.load(key)?;
        if node.section(depth).is_some() {
            return Ok((old, node, false));
        }
        let occlusion = self.ensure_ancestors(key, depth)?;
        if old.is_none() {
            node.deepest = depth;
        }
        apply_occlusion(node.section_or_insert(depth), occlusion);
        Ok((old, node, true))
    }

    /// Adds `rr` at `key` in the pending zone `apex`. Returns true if the zone changed.
    pub(super) fn add_record(&mut self, apex: &[u8], key: &[u8], rr: &Rr) -> Result<bool, ZoneError> {
        let depth = self.zones[apex].depth;
        check_variant(rr)?;
        let (old, mut node, created) = self.node_for_write(key, depth)?;
        let section = node.section_mut(depth).expect("created above");
        if section.flags & flags::WHOAMI != 0 {
            let reason =
                format!("is in the zone's policy, so the {} record is refused; {WHOAMI_NO_RECORDS}", crate::zonefile::type_name(rr.rtype));
            return Err(BuildError::Whoami { name: name::key_to_text(key), reason }.into());
        }
        let was_occluding = occludes(section);
        let diff = &mut self.zones.get_mut(apex).expect("pending").diff;
        if rr.rtype == rtype::SOA && rr.condition.is_empty() {
            // One SOA per zone: a new one replaces the old.
            if let Some(at) = section.rrsets.iter().position(|r| r.rtype == rtype::SOA && r.condition.is_empty()) {
                section.rrsets.remove(at);
            }
        }
        let covered = covered_type(rr.rtype, &rr.rdata);
        let changed = match section.find_mut(rr.rtype, covered, &rr.condition) {
            Some(rrset) => {
                let mut changed = false;
                if rrset.ttl != rr.ttl {
                    if rr.rtype != rtype::SOA {
                        diff.removed_rrset(key, rrset);
                    }
                    rrset.ttl = rr.ttl;
                    if rr.rtype != rtype::SOA {
                        diff.added_rrset(key, rrset);
                    }
                    changed = true;
                }
                if rrset.insert(rr.rdata.clone()) {
                    if rr.rtype != rtype::SOA {
                        diff.added_rrset(key, &single(rrset, &rr.rdata));
                    }
                    changed = true;
                }
                changed
            }
            None => {
                let mut rrset = Rrset::new(rr.rtype, covered, rr.condition.clone(), rr.ttl);
                rrset.insert(rr.rdata.clone());
                if rr.rtype != rtype::SOA {
                    diff.added_rrset(key, &rrset);
                }
                section.rrsets.push(rrset);
                true
            }
        };
        let apex_key = apex.to_vec();
        section.refresh_own_flags(key == apex_key);
        check_name(key, section, &apex_key)?;
        let occluding = occludes(section);
        self.store_node(key, &mut node, old.as_deref())?;
        if created {
            self.section_created(key, depth)?;
        }
        if occluding && !was_occluding {
            self.occlude_below(key, depth)?;
        }
        Ok(changed)
    }

    /// Removes from the name `key` of the pending zone `apex` the records of the RRsets `pick`
    /// selects (only those equal to `rdata` when given). Returns how many went.
    pub(super) fn remove_records(
        &mut self,
        apex: &[u8],
        key: &[u8],
        pick: impl Fn(&Rrset) -> bool,
        rdata: Option<&[u8]>,
    ) -> Result<usize, ZoneError> {
        let depth = self.zones[apex].depth;
        let (old, mut node) = self.load(key)?;
        let Some(section) = node.section_mut(depth) else { return Ok(0) };
        let was_occluding = occludes(section);
        let diff = &mut self.zones.get_mut(apex).expect("pending").diff;
        let mut removed = 0;
        for rrset in section.rrsets.iter_mut().filter(|r| pick(r)) {
            let before = rrset.rdatas.len();
            let (gone, kept): (Vec<Vec<u8>>, Vec<Vec<u8>>) = match rdata {
                // Names inside RDATA compare without regard to case (RFC 4343).
                Some(rdata) => std::mem::take(&mut rrset.rdatas).into_iter().partition(|r| rdata_equal(rrset.rtype, r, rdata)),
                None => (std::mem::take(&mut rrset.rdatas), Vec::new()),
            };
            rrset.rdatas = kept;
            if rrset.rtype != rtype::SOA {
                for rdata in &gone {
                    diff.removed_rrset(key, &single(rrset, rdata));
                }
            }
            removed += before - rrset.rdatas.len();
        }
        if removed == 0 {
            return Ok(0);
        }
        section.rrsets.retain(|r| !r.rdatas.is_empty());
        section.refresh_own_flags(key == apex);
        let occluding = occludes(section);
        let empty = section.rrsets.is_empty() && section.flags & (flags::APEX | flags::WHOAMI) == 0;
        if empty {
            self.prune(key, depth, old, node)?;
        } else {
            self.store_node(key, &mut node, old.as_deref())?;
        }
        if was_occluding && !occluding {
            self.recompute_below(key, depth)?;
        }
        Ok(removed)
    }

    /// `key` holds nothing of zone `depth` any more: it stays as an empty non-terminal if names
    /// of the zone remain below it, else its section goes and its parent is checked the same way.
    fn prune(&mut self, key: &[u8], depth: u8, old: Option<Vec<u8>>, mut node: Node) -> Result<(), ZoneError> {
        if !self.zone_names_below(key, depth, true)?.is_empty() {
            return self.store_node(key, &mut node, old.as_deref());
        }
        node.remove_section(depth);
        self.store_node(key, &mut node, old.as_deref())?;
        if name::is_wildcard(key) {
            self.set_parent_flag(key, depth, flags::WILDCARD_CHILD, false)?;
        }
        let Some(parent) = name::parent(key) else { return Ok(()) };
        let parent = parent.to_vec();
        let (old, node) = self.load(&parent)?;
        match node.section(depth) {
            Some(s) if s.rrsets.is_empty() && s.flags & (flags::APEX | flags::WHOAMI) == 0 => self.prune(&parent, depth, old, node),
            _ => Ok(()),
        }
    }

    /// `key` became a delegation point or DNAME: every name of the zone below it is occluded by
    /// it (a whoami name there is refused: it would never be answered).
    fn occlude_below(&mut self, key: &[u8], depth: u8) -> Result<(), ZoneError> {
        let labels = name::label_count(key) as u8;
        for (k, bytes) in self.zone_names_below(key, depth, false)? {
            let mut node = Node::decode(&bytes).map_err(|e| ZoneError::Corrupt(format!("{}: {e}", name::key_to_text(&k))))?;
            let section = node.section_mut(depth).expect("listed for its section");
            if section.flags & flags::WHOAMI != 0 {
                let owner_is_cut = self.load(key)?.1.section(depth).is_some_and(|s| s.flags & flags::CUT != 0);
                let what = if owner_is_cut { "the delegation point" } else { "the DNAME at" };
                return Err(whoami_error(
                    &k,
                    format!("is below {what} {}; a whoami name must be answered by this zone", name::key_to_text(key)),
                )
                .into());
            }
            apply_occlusion(section, Occlusion { cut: Some(labels) });
            self.store_node(&k, &mut node, Some(&bytes))?;
        }
        Ok(())
    }

    /// `key` stopped being a delegation point or DNAME: the names below get the occlusion the
    /// tree now implies (the first delegation or DNAME met on the way down occludes its subtree).
    fn recompute_below(&mut self, key: &[u8], depth: u8) -> Result<(), ZoneError> {
        let mut occluder: Option<(Vec<u8>, u8)> = None;
        for (k, bytes) in self.zone_names_below(key, depth, false)? {
            if occluder.as_ref().is_some_and(|(owner, _)| !k.starts_with(owner)) {
                occluder = None;
            }
            let mut node = Node::decode(&bytes).map_err(|e| ZoneError::Corrupt(format!("{}: {e}", name::key_to_text(&k))))?;
            let section = node.section_mut(depth).expect("listed for its section");
            apply_occlusion(section, Occlusion { cut: occluder.as_ref().map(|(_, labels)| *labels) });
            if occluder.is_none() && occludes(section) {
                occluder = Some((k.clone(), name::label_count(&k) as u8));
            }
            self.store_node(&k, &mut node, Some(&bytes))?;
        }
        Ok(())
    }

    /// Makes the names `new` (keys) the zone's whoami names in place of `old`: each gets an
    /// empty section flagged `WHOAMI`; names no longer listed lose the flag (and go if nothing
    /// else keeps them). The same checks as a whole-zone write.
    pub(super) fn set_whoami_names(&mut self, apex: &[u8], old: &[Vec<u8>], new: &[Vec<u8>]) -> Result<(), ZoneError> {
        let depth = self.zones[apex].depth;
        for key in old.iter().filter(|k| !new.contains(k)) {
            let (old_bytes, mut node) = self.load(key)?;
            let Some(section) = node.section_mut(depth) else { continue };
            section.flags &= !flags::WHOAMI;
            if section.rrsets.is_empty() {
                self.prune(key, depth, old_bytes, node)?;
            } else {
                self.store_node(key, &mut node, old_bytes.as_deref())?;
            }
        }
        for (i, key) in new.iter().enumerate() {
            if !name::is_at_or_below(key, apex) {
                return Err(whoami_error(key, format!("is outside the zone {}", name::key_to_text(apex))).into());
            }
            if key == apex {
                return Err(whoami_error(key, "is the zone apex; a whoami name must be a name strictly inside the zone".into()).into());
            }
            if name::is_wildcard(key) {
                return Err(whoami_error(key, "is a wildcard; a whoami name must be an ordinary name".into()).into());
            }
            if new[..i].contains(key) {
                return Err(whoami_error(key, "is listed twice".into()).into());
            }
            if super::zone_for(self.store, self.txn, key)?.is_some_and(|z| z != apex) {
                let inner = super::zone_for(self.store, self.txn, key)?.unwrap_or_default();
                let reason = format!("is inside the zone {} served here, which answers for it", name::key_to_text(&inner));
                return Err(whoami_error(key, reason).into());
            }
            if old.contains(key) {
                continue;
            }
            let (old_bytes, mut node, created) = self.node_for_write(key, depth)?;
            let section = node.section_mut(depth).expect("created above");
            if !section.rrsets.is_empty() {
                let mut codes: Vec<u16> = section.rrsets.iter().map(|r| r.rtype).collect();
                codes.sort_unstable();
                codes.dedup();
                let types: Vec<String> = codes.into_iter().map(crate::zonefile::type_name).collect();
                let cut = if section.has_type(rtype::NS) { " (it is a delegation point)" } else { "" };
                return Err(whoami_error(key, format!("owns {} records{cut}; {WHOAMI_NO_RECORDS}", types.join(", "))).into());
            }
            if section.flags & flags::BELOW_CUT != 0 {
                let owner = name::ancestor(key, section.cut as usize).to_vec();
                let is_cut = self.load(&owner)?.1.section(depth).is_some_and(|s| s.flags & flags::CUT != 0);
                let what = if is_cut { "the delegation point" } else { "the DNAME at" };
                let reason = format!("is below {what} {}; a whoami name must be answered by this zone", name::key_to_text(&owner));
                return Err(whoami_error(key, reason).into());
            }
            section.flags |= flags::WHOAMI;
            self.store_node(key, &mut node, old_bytes.as_deref())?;
            if created {
                self.section_created(key, depth)?;
            }
        }
        Ok(())
    }
}

/// An RRset holding just one of another's records (for noting it in the diff).
fn single(rrset: &Rrset, rdata: &[u8]) -> Rrset {
    Rrset { rdatas: vec![rdata.to_vec()], ..Rrset::new(rrset.rtype, rrset.covered, rrset.condition.clone(), rrset.ttl) }
}

/// The checks a variant gets before it is stored: a valid condition, and not one of the types
/// that shape the zone for every client.
fn check_variant(rr: &Rr) -> Result<(), BuildError> {
    if rr.condition.is_empty() {
        return Ok(());
    }
    super::build::check_variant_record(rr)
}
