//! What the Docker and CRI normalizers share once a line is parsed: re-joining split lines,
//! optional multi-line grouping, and building the container event.

use kestrel_event::{ContainerMeta, EventKind, KubernetesMeta};

use super::assemble::{Chunk, Groups, Record, Splits};
use super::path_meta::PathMeta;
use super::record::{add_flag, base_event, parse_json_object, PARTIAL_FLAG};
use super::{NormalizeOptions, Output, SourceContext};

/// Turns parsed chunks into container events.
#[derive(Debug)]
pub(crate) struct ContainerPipeline {
    pub ctx: SourceContext,
    container: Option<ContainerMeta>,
    kubernetes: Option<KubernetesMeta>,
    splits: Splits,
    groups: Option<Groups>,
    /// Reused buffers for records completed by one call.
    joined: Vec<Record>,
    grouped: Vec<Record>,
}

impl ContainerPipeline {
    pub fn new(ctx: SourceContext, options: NormalizeOptions) -> ContainerPipeline {
        let meta = PathMeta::parse(&ctx.path);
        ContainerPipeline {
            container: meta.container(),
            kubernetes: meta.kubernetes(),
            ctx,
            splits: Splits::new(options.max_record_bytes),
            groups: options
                .first_line
                .map(|first| Groups::new(first, options.max_record_bytes)),
            joined: Vec::new(),
            grouped: Vec::new(),
        }
    }

    /// Adds one parsed line.
    pub fn push(&mut self, chunk: Chunk<'_>, out: &mut Vec<Output>) {
        self.splits.push(chunk, &mut self.joined);
        self.emit_joined(out);
    }

    /// Emits everything still open.
    pub fn flush(&mut self, out: &mut Vec<Output>) {
        self.splits.flush(&mut self.joined);
        self.emit_joined(out);
        if let Some(groups) = &mut self.groups {
            groups.flush(&mut self.grouped);
        }
        self.emit_grouped(out);
    }

    pub fn pending_offset(&self) -> Option<u64> {
        let groups = self.groups.as_ref().and_then(Groups::pending_offset);
        match (self.splits.pending_offset(), groups) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn emit_joined(&mut self, out: &mut Vec<Output>) {
        match &mut self.groups {
            Some(groups) => {
                for record in self.joined.drain(..) {
                    groups.push(record, &mut self.grouped);
                }
                self.emit_grouped(out);
            }
            None => {
                let mut joined = std::mem::take(&mut self.joined);
                out.reserve(joined.len());
                for record in joined.drain(..) {
                    out.push(self.event(record));
                }
                self.joined = joined;
            }
        }
    }

    fn emit_grouped(&mut self, out: &mut Vec<Output>) {
        let mut grouped = std::mem::take(&mut self.grouped);
        out.reserve(grouped.len());
        for record in grouped.drain(..) {
            out.push(self.event(record));
        }
        self.grouped = grouped;
    }

    fn event(&self, record: Record) -> Output {
        let mut event = base_event(
            &self.ctx,
            EventKind::Container,
            record.offset,
            0,
            record.timestamp,
        );
        event.json = parse_json_object(&record.text);
        event.message = record.text;
        event.stream = record.stream;
        event.container = self.container.clone();
        event.kubernetes = self.kubernetes.clone();
        if record.partial {
            add_flag(&mut event, PARTIAL_FLAG);
        }
        Output::Event(event)
    }
}
