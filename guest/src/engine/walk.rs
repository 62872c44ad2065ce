//! The walk of one lead: which rule governs each value, and what is
//! written for it (see the module documentation of `engine`).

use std::fmt::Write as _;
use std::ops::Range;

use super::output::{Clash, Empty, OutTree, OutValue, Place};
use super::{Engine, Op, display_path};
use crate::coverage::Coverage;
use crate::json::Json;
use crate::path;
use crate::policy::Unknown;
use crate::{Change, Failure, Secret, Violation};

/// Walks `lead` under `engine`'s rules: the output tree and the change list.
pub(super) fn walk<'a>(
    engine: &'a Engine,
    lead: &'a Json<'a>,
    secrets: &'a [Secret],
    coverage: Option<&'a mut Coverage>,
) -> Result<(OutTree<'a>, Vec<Change>), Failure> {
    let mut walk = Walk {
        engine,
        lead,
        secrets,
        tree: OutTree::new(engine.relocates),
        changes: Vec::with_capacity(32),
        active: vec![0],
        path: String::new(),
        coverage,
    };
    walk.visit(lead, 0..1, Inherit::Unknown, Some(Place::Root))?;
    let Walk { tree, changes, .. } = walk;
    Ok((tree, changes))
}

/// What a value that no rule of its own governs gets from its ancestors.
#[derive(Debug, Clone, Copy)]
enum Inherit {
    /// Under a `keep`: kept.
    Keep,
    /// Under a `drop`: left out.
    Drop,
    /// Under another action, which replaced the container whole: left out.
    Covered,
    /// No governed ancestor.
    Unknown,
}

/// One transform in progress.
struct Walk<'a> {
    engine: &'a Engine,
    lead: &'a Json<'a>,
    secrets: &'a [Secret],
    tree: OutTree<'a>,
    changes: Vec<Change>,
    /// Trie nodes matching the values on the current path, a range per
    /// value.
    active: Vec<usize>,
    /// The pointer of the current value as diagnostics show it: keys the
    /// policy does not name are `*` (see `names.rs`).
    path: String,
    /// Where governing alternatives are recorded, when tracing.
    coverage: Option<&'a mut Coverage>,
}

impl<'a> Walk<'a> {
    /// Decides `value`, whose matching trie nodes are `self.active[active]`
    /// and whose output place (for a value that writes itself where it
    /// is) is `place`; `None` is inside a value written whole.
    fn visit(
        &mut self,
        value: &'a Json,
        active: Range<usize>,
        inherit: Inherit,
        place: Option<Place<'a>>,
    ) -> Result<(), Failure> {
        let engine = self.engine;
        let container = matches!(value, Json::Object(_) | Json::Array(_));
        let deeper = container
            && self.active[active.clone()]
                .iter()
                .any(|&n| engine.nodes[n].has_children());
        let Some((rule, index)) = self.governing(active.clone()) else {
            return match inherit {
                Inherit::Keep if deeper => self.descend(value, active, Inherit::Keep, place, true),
                Inherit::Keep => self.put(place, OutValue::Input(value)),
                Inherit::Drop | Inherit::Covered if deeper => {
                    self.descend(value, active, inherit, place, false)
                }
                Inherit::Drop | Inherit::Covered => Ok(()),
                Inherit::Unknown if deeper || matches!(place, Some(Place::Root)) => {
                    self.descend(value, active, Inherit::Unknown, place, false)
                }
                Inherit::Unknown => self.unknown(),
            };
        };
        let alternative = &engine.rules[rule].alternatives[index];
        if let Some(coverage) = self.coverage.as_deref_mut() {
            coverage.record_alternative(&engine.patterns[rule], index);
        }
        self.changes.push(Change {
            path: self.path.clone(),
            action: alternative.op.name().to_owned(),
        });
        let target = match &alternative.to {
            Some(to) => Some(self.tree.locate(to).map_err(|e| self.clash(e))?),
            None => place,
        };
        match &alternative.op {
            Op::Keep if deeper => self.descend(value, active, Inherit::Keep, target, true),
            Op::Keep => self.put(target, OutValue::Input(value)),
            Op::Drop if deeper => self.descend(value, active, Inherit::Drop, place, false),
            Op::Drop => Ok(()),
            Op::Write(action) => {
                let result = match value {
                    Json::Null => Json::Null,
                    value => action.apply(value, self.secrets).map_err(|message| {
                        Failure::Transform(Violation {
                            path: self.path.clone(),
                            message,
                        })
                    })?,
                };
                self.put(target, OutValue::Produced(result))?;
                if deeper {
                    self.descend(value, active, Inherit::Covered, None, false)
                } else {
                    Ok(())
                }
            }
        }
    }

    /// The alternative that governs the current value: the first that holds
    /// of the most specific matching rule that has one, as the rule's index
    /// and the alternative's position in it.
    fn governing(&self, active: Range<usize>) -> Option<(usize, usize)> {
        let engine = self.engine;
        let mut tried: Option<usize> = None;
        loop {
            let next = self.active[active.clone()]
                .iter()
                .filter_map(|&n| engine.nodes[n].rule)
                .filter(|&r| tried.is_none_or(|t| r > t))
                .min()?;
            let found = engine.rules[next]
                .alternatives
                .iter()
                .position(|a| a.when.as_ref().is_none_or(|c| c.holds(self.lead)));
            if let Some(index) = found {
                return Some((next, index));
            }
            tried = Some(next);
        }
    }

    /// Walks the members or elements of a container that is written member
    /// by member: a route object or array at `place` (`kept`: present even
    /// when empty), or nothing when `place` is inside a value written whole.
    fn descend(
        &mut self,
        value: &'a Json,
        active: Range<usize>,
        inherit: Inherit,
        place: Option<Place<'a>>,
        kept: bool,
    ) -> Result<(), Failure> {
        let engine = self.engine;
        match value {
            Json::Object(members) => {
                let node = match place {
                    Some(place) => Some(
                        self.tree
                            .route_object(place, kept)
                            .map_err(|e| self.clash(e))?,
                    ),
                    None => None,
                };
                for (name, child) in members {
                    let start = self.active.len();
                    // A key that a rule's segment matches is named.
                    let mut named = false;
                    for k in active.clone() {
                        let n = &engine.nodes[self.active[k]];
                        if let Some(&c) = n.keys.get(&**name) {
                            self.active.push(c);
                            named = true;
                        }
                        if let Some(c) = n.star {
                            self.active.push(c);
                        }
                    }
                    let end = self.active.len();
                    let len = self.path.len();
                    if named {
                        path::push_escaped(&mut self.path, name);
                    } else {
                        engine.names.push_key(&mut self.path, name);
                    }
                    let child_place = node.map(|id| Place::Member(id, name));
                    self.visit(child, start..end, inherit, child_place)?;
                    self.path.truncate(len);
                    self.active.truncate(start);
                }
            }
            Json::Array(items) => {
                let node = match place {
                    Some(place) => {
                        let empties = items.iter().map(Empty::of).collect();
                        Some(
                            self.tree
                                .route_array(place, empties, kept)
                                .map_err(|e| self.clash(e))?,
                        )
                    }
                    None => None,
                };
                for (i, child) in items.iter().enumerate() {
                    let start = self.active.len();
                    for k in active.clone() {
                        let n = &engine.nodes[self.active[k]];
                        if let Some(&c) = n.indices.get(&i) {
                            self.active.push(c);
                        }
                        for (pointer, text, c) in &n.selectors {
                            if path::selects(pointer, text, child) {
                                self.active.push(*c);
                            }
                        }
                        if let Some(c) = n.star {
                            self.active.push(c);
                        }
                    }
                    let end = self.active.len();
                    let len = self.path.len();
                    // Writing to a `String` cannot fail.
                    let _ = write!(self.path, "/{i}");
                    let child_place = node.map(|id| Place::Element(id, i));
                    self.visit(child, start..end, inherit, child_place)?;
                    self.path.truncate(len);
                    self.active.truncate(start);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Writes a value at `place`.
    fn put(&mut self, place: Option<Place<'a>>, value: OutValue<'a>) -> Result<(), Failure> {
        self.tree.put(place, value).map_err(|e| self.clash(e))
    }

    /// A value no rule governs.
    fn unknown(&mut self) -> Result<(), Failure> {
        match self.engine.unknown {
            Unknown::Reject => Err(Failure::Rejected(format!(
                "no rule governs `{}`",
                display_path(&self.path)
            ))),
            Unknown::Drop => {
                self.changes.push(Change {
                    path: self.path.clone(),
                    action: "unknown".to_owned(),
                });
                Ok(())
            }
        }
    }

    /// The failure for a value that cannot be written where it goes.
    fn clash(&self, clash: Clash<'a>) -> Failure {
        let message = match clash {
            Clash::Occupied(place) => {
                let output = self.tree.pointer(place, &self.engine.names);
                format!("another value is already written at `{}` of the output", display_path(&output))
            }
            Clash::Inside => "this value lies inside a value that a rule replaced whole; a rule below it can only write elsewhere, with `to:`".to_owned(),
        };
        Failure::Transform(Violation {
            path: self.path.clone(),
            message,
        })
    }
}
