//! One event as the rules read it: each field resolved once and its text lowercased once,
//! however many rules test it.
//!
//! Rules of a pack test the same few fields (`verb`, `objectRef.resource`, `message`...); without
//! this memo every rule would walk the JSON and lowercase the text again.

use std::borrow::Cow;
use std::ops::Range;

use serde_json::Value;

use crate::compile::resolve;
use crate::value::folded;

/// The fields of one event resolved so far, with the lowercase text of each leaf.
pub struct EventView<'a, 'r> {
    event: &'a Value,
    /// Field path → its leaves in `leaves`.
    fields: Vec<(&'r str, Range<usize>)>,
    /// Several paths read as one field (a mapped field name), keyed by the address of the
    /// compiled rule's path list.
    combined: Vec<(usize, Range<usize>)>,
    /// Every text of the event (keyword searches).
    texts: Option<Range<usize>>,
    leaves: Vec<&'a Value>,
    lowered: Vec<Option<Cow<'a, str>>>,
}

impl<'a, 'r> EventView<'a, 'r> {
    /// A view of `event` with nothing resolved yet.
    pub fn new(event: &'a Value) -> EventView<'a, 'r> {
        EventView {
            event,
            fields: Vec::new(),
            combined: Vec::new(),
            texts: None,
            leaves: Vec::new(),
            lowered: Vec::new(),
        }
    }

    /// The event.
    pub fn event(&self) -> &'a Value {
        self.event
    }

    /// The leaves of a dotted path (see [`resolve`]), resolved on first use.
    pub fn field(&mut self, path: &'r str) -> Range<usize> {
        if let Some((_, range)) = self.fields.iter().find(|(p, _)| *p == path) {
            return range.clone();
        }
        let start = self.leaves.len();
        resolve(self.event, path, &mut self.leaves);
        let range = self.lower_from(start);
        self.fields.push((path, range.clone()));
        range
    }

    /// The leaves of several paths read as one field, in path order.
    pub fn fields(&mut self, paths: &'r [String]) -> Range<usize> {
        if let [path] = paths {
            return self.field(path);
        }
        let key = paths.as_ptr() as usize;
        if let Some((_, range)) = self.combined.iter().find(|(k, _)| *k == key) {
            return range.clone();
        }
        let parts: Vec<Range<usize>> = paths.iter().map(|p| self.field(p)).collect();
        let start = self.leaves.len();
        for part in parts {
            self.leaves.extend_from_within(part.clone());
            self.lowered.extend_from_within(part);
        }
        let range = start..self.leaves.len();
        self.combined.push((key, range.clone()));
        range
    }

    /// Every text (string leaf) of the event, for keyword searches.
    pub fn texts(&mut self) -> Range<usize> {
        if let Some(range) = &self.texts {
            return range.clone();
        }
        let start = self.leaves.len();
        collect_texts(self.event, &mut self.leaves);
        let range = self.lower_from(start);
        self.texts = Some(range.clone());
        range
    }

    /// The leaves of a range, and the lowercase text of each (`None` for objects, arrays and
    /// null).
    pub fn leaves(&self, range: Range<usize>) -> (&[&'a Value], &[Option<Cow<'a, str>>]) {
        (&self.leaves[range.clone()], &self.lowered[range])
    }

    fn lower_from(&mut self, start: usize) -> Range<usize> {
        let end = self.leaves.len();
        self.lowered.extend(
            self.leaves[start..end]
                .iter()
                .map(|leaf| folded(leaf, false)),
        );
        start..end
    }
}

fn collect_texts<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    match value {
        Value::String(_) => out.push(value),
        Value::Array(items) => items.iter().for_each(|v| collect_texts(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_texts(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_are_resolved_once_and_lowered() {
        let event = json!({"verb": "GET", "a": {"b": ["X", 2]}, "c": "y"});
        let mut view = EventView::new(&event);
        let verb = view.field("verb");
        assert_eq!(view.field("verb"), verb, "memoized");
        let (leaves, lowered) = view.leaves(verb);
        assert_eq!(leaves, [&json!("GET")]);
        assert_eq!(lowered[0].as_deref(), Some("get"));
        let paths = vec!["a.b".to_owned(), "c".to_owned()];
        let both = view.fields(&paths);
        let (leaves, lowered) = view.leaves(both);
        assert_eq!(leaves, [&json!("X"), &json!(2), &json!("y")]);
        let lowered: Vec<Option<&str>> = lowered.iter().map(|l| l.as_deref()).collect();
        assert_eq!(lowered, [Some("x"), Some("2"), Some("y")]);
        let texts = view.texts();
        assert_eq!(view.leaves(texts).0.len(), 3);
    }
}
