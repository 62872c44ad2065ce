//! The output being built: written values and the route containers that
//! lead to them, turned into compact JSON text or a value for the output
//! schema.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::json::{self, Json};
use crate::names::Names;

/// Where a value is written in the output.
#[derive(Debug, Clone, Copy)]
pub(super) enum Place<'a> {
    /// The output lead itself.
    Root,
    /// A member of the route object with this node id.
    Member(usize, &'a str),
    /// An element of the route array with this node id.
    Element(usize, usize),
}

/// Why a value cannot be written where it goes.
#[derive(Debug)]
pub(super) enum Clash<'a> {
    /// Something is already written at this place.
    Occupied(Place<'a>),
    /// The place lies inside a value written whole.
    Inside,
}

/// What an array element that yields nothing becomes.
#[derive(Debug, Clone, Copy)]
pub(super) enum Empty {
    Object,
    Array,
    Null,
}

impl Empty {
    pub(super) fn of(value: &Json) -> Empty {
        match value {
            Json::Object(_) => Empty::Object,
            Json::Array(_) => Empty::Array,
            _ => Empty::Null,
        }
    }

    fn text(self) -> &'static str {
        match self {
            Empty::Object => "{}",
            Empty::Array => "[]",
            Empty::Null => "null",
        }
    }

    fn value(self) -> Value {
        match self {
            Empty::Object => Value::Object(Default::default()),
            Empty::Array => Value::Array(Vec::new()),
            Empty::Null => Value::Null,
        }
    }
}

/// A written value.
#[derive(Debug)]
pub(super) enum OutValue<'a> {
    /// Part of the lead, kept as it is.
    Input(&'a Json<'a>),
    /// The result of an action.
    Produced(Json<'a>),
}

impl OutValue<'_> {
    fn json(&self) -> &Json<'_> {
        match self {
            OutValue::Input(json) => json,
            OutValue::Produced(json) => json,
        }
    }
}

/// Route objects with more members than this find members through an index
/// (only looked up when values may be written elsewhere, with `to:`).
const INDEXED_MEMBERS: usize = 16;

#[derive(Debug)]
enum OutKind<'a> {
    Value(OutValue<'a>),
    Object {
        members: Vec<(&'a str, usize)>,
        index: Option<BTreeMap<&'a str, usize>>,
        kept: bool,
    },
    Array {
        slots: Vec<Option<usize>>,
        empties: Vec<Empty>,
        kept: bool,
    },
}

#[derive(Debug)]
struct OutNode<'a> {
    parent: Option<usize>,
    kind: OutKind<'a>,
}

/// The output being built: written values and the route containers that
/// lead to them. A child's id is always larger than its parent's.
#[derive(Debug)]
pub(super) struct OutTree<'a> {
    nodes: Vec<OutNode<'a>>,
    root: Option<usize>,
    /// Whether values may be written elsewhere (`to:`). Without that, each
    /// value of the lead is visited once and names in an object are unique,
    /// so no member or element is ever written twice and the tree need not
    /// look.
    relocating: bool,
}

impl<'a> OutTree<'a> {
    /// An empty output; `relocating` when values may be written elsewhere.
    pub(super) fn new(relocating: bool) -> OutTree<'a> {
        OutTree {
            nodes: Vec::with_capacity(32),
            root: None,
            relocating,
        }
    }

    /// The node already at `place`, if any.
    fn occupant(&self, place: Place<'a>) -> Option<usize> {
        if !self.relocating && !matches!(place, Place::Root) {
            debug_assert_eq!(self.get(place), None);
            return None;
        }
        self.get(place)
    }

    /// The node at `place`, if any.
    fn get(&self, place: Place<'a>) -> Option<usize> {
        match place {
            Place::Root => self.root,
            Place::Member(parent, name) => match &self.nodes[parent].kind {
                OutKind::Object {
                    index: Some(index), ..
                } => index.get(name).copied(),
                OutKind::Object { members, .. } => {
                    members.iter().find(|(n, _)| *n == name).map(|(_, id)| *id)
                }
                _ => None,
            },
            Place::Element(parent, i) => match &self.nodes[parent].kind {
                OutKind::Array { slots, .. } => slots.get(i).copied().flatten(),
                _ => None,
            },
        }
    }

    /// Adds a node at `place`, which is free.
    fn attach(&mut self, place: Place<'a>, kind: OutKind<'a>) -> usize {
        let id = self.nodes.len();
        let parent = match place {
            Place::Root => {
                self.root = Some(id);
                None
            }
            Place::Member(parent, name) => {
                if let OutKind::Object { members, index, .. } = &mut self.nodes[parent].kind {
                    members.push((name, id));
                    if let Some(index) = index {
                        index.insert(name, id);
                    } else if self.relocating && members.len() > INDEXED_MEMBERS {
                        *index = Some(members.iter().copied().collect());
                    }
                }
                Some(parent)
            }
            Place::Element(parent, i) => {
                if let OutKind::Array { slots, .. } = &mut self.nodes[parent].kind
                    && let Some(slot) = slots.get_mut(i)
                {
                    *slot = Some(id);
                }
                Some(parent)
            }
        };
        self.nodes.push(OutNode { parent, kind });
        id
    }

    /// Writes `value` at `place`.
    pub(super) fn put(
        &mut self,
        place: Option<Place<'a>>,
        value: OutValue<'a>,
    ) -> Result<(), Clash<'a>> {
        let place = place.ok_or(Clash::Inside)?;
        if self.occupant(place).is_some() {
            return Err(Clash::Occupied(place));
        }
        self.attach(place, OutKind::Value(value));
        Ok(())
    }

    /// The route object at `place`, created if the place is free.
    pub(super) fn route_object(
        &mut self,
        place: Place<'a>,
        kept: bool,
    ) -> Result<usize, Clash<'a>> {
        match self.occupant(place) {
            None => Ok(self.attach(
                place,
                OutKind::Object {
                    members: Vec::new(),
                    index: None,
                    kept,
                },
            )),
            Some(id) => match &mut self.nodes[id].kind {
                OutKind::Object { kept: was_kept, .. } => {
                    *was_kept |= kept;
                    Ok(id)
                }
                _ => Err(Clash::Occupied(place)),
            },
        }
    }

    /// A new route array at `place`.
    pub(super) fn route_array(
        &mut self,
        place: Place<'a>,
        empties: Vec<Empty>,
        kept: bool,
    ) -> Result<usize, Clash<'a>> {
        if self.occupant(place).is_some() {
            return Err(Clash::Occupied(place));
        }
        Ok(self.attach(
            place,
            OutKind::Array {
                slots: vec![None; empties.len()],
                empties,
                kept,
            },
        ))
    }

    /// The place a `to:` pointer names, creating route objects on the way.
    pub(super) fn locate(&mut self, to: &'a [String]) -> Result<Place<'a>, Clash<'a>> {
        let mut place = Place::Root;
        for key in to {
            let id = self.route_object(place, false)?;
            place = Place::Member(id, key);
        }
        Ok(place)
    }

    /// The output pointer of `place`, for messages: keys that `names`
    /// does not hold are `*`.
    pub(super) fn pointer(&self, place: Place<'a>, names: &Names) -> String {
        match place {
            Place::Root => String::new(),
            Place::Member(parent, name) => {
                let mut pointer = self.node_pointer(parent, names);
                names.push_key(&mut pointer, name);
                pointer
            }
            Place::Element(parent, i) => format!("{}/{i}", self.node_pointer(parent, names)),
        }
    }

    fn node_pointer(&self, id: usize, names: &Names) -> String {
        let Some(parent) = self.nodes[id].parent else {
            return String::new();
        };
        let mut pointer = self.node_pointer(parent, names);
        match &self.nodes[parent].kind {
            OutKind::Object { members, .. } => {
                if let Some((name, _)) = members.iter().find(|(_, c)| *c == id) {
                    names.push_key(&mut pointer, name);
                }
            }
            OutKind::Array { slots, .. } => {
                if let Some(i) = slots.iter().position(|s| *s == Some(id)) {
                    pointer.push_str(&format!("/{i}"));
                }
            }
            OutKind::Value(_) => {}
        }
        pointer
    }

    /// Whether each node appears in the output: written values, kept
    /// containers, and routes that hold something that appears.
    pub(super) fn presence(&self) -> Vec<bool> {
        let mut present: Vec<bool> = self
            .nodes
            .iter()
            .map(|node| match node.kind {
                OutKind::Value(_) => true,
                OutKind::Object { kept, .. } | OutKind::Array { kept, .. } => kept,
            })
            .collect();
        // Children come after their parents.
        for id in (0..self.nodes.len()).rev() {
            if present[id]
                && let Some(parent) = self.nodes[id].parent
            {
                present[parent] = true;
            }
        }
        present
    }

    /// The compact JSON text of the output (`{}` when nothing was written).
    pub(super) fn to_compact(&self, present: &[bool], capacity: usize) -> String {
        let mut out = String::with_capacity(capacity);
        match self.root {
            Some(root) => self.write(root, present, &mut out),
            None => out.push_str("{}"),
        }
        out
    }

    fn write(&self, id: usize, present: &[bool], out: &mut String) {
        match &self.nodes[id].kind {
            OutKind::Value(value) => value.json().write_compact(out),
            OutKind::Object { members, .. } => {
                out.push('{');
                let mut first = true;
                for (name, child) in members.iter().filter(|(_, c)| present[*c]) {
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    json::write_string(name, out);
                    out.push(':');
                    self.write(*child, present, out);
                }
                out.push('}');
            }
            OutKind::Array { slots, empties, .. } => {
                out.push('[');
                for (i, (slot, empty)) in slots.iter().zip(empties).enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    match slot {
                        Some(child) if present[*child] => self.write(*child, present, out),
                        _ => out.push_str(empty.text()),
                    }
                }
                out.push(']');
            }
        }
    }

    /// The output as a `serde_json::Value`, for the output schema.
    pub(super) fn to_value(&self, present: &[bool]) -> Value {
        match self.root {
            Some(root) => self.value(root, present),
            None => Value::Object(Default::default()),
        }
    }

    fn value(&self, id: usize, present: &[bool]) -> Value {
        match &self.nodes[id].kind {
            OutKind::Value(value) => value.json().to_value(),
            OutKind::Object { members, .. } => Value::Object(
                members
                    .iter()
                    .filter(|(_, c)| present[*c])
                    .map(|(name, child)| ((*name).to_owned(), self.value(*child, present)))
                    .collect(),
            ),
            OutKind::Array { slots, empties, .. } => Value::Array(
                slots
                    .iter()
                    .zip(empties)
                    .map(|(slot, empty)| match slot {
                        Some(child) if present[*child] => self.value(*child, present),
                        _ => empty.value(),
                    })
                    .collect(),
            ),
        }
    }
}
