//! Kafka offsets recorded in the commits of a shard's indexes.
//!
//! A shard (the indexes of one Kafka partition) commits in rounds. Round `r` commits every
//! index that received events since round `r - 1`, each with the same payload: the round, the
//! offset the round started at (everything before it is durable), the offset after its last
//! message, and the indexes it committed (its members). Commits the indexer makes on its own
//! in the middle of a round (closing a writer) carry the round and its start but no end.
//!
//! On restart the shard looks at the highest round recorded. If every member of that round
//! holds it, the round completed and consumption resumes at its end. Otherwise the process
//! died between two member commits: it resumes at the round's start, and the events that the
//! members already hold are recognized by their ids and not added twice.

use serde::{Deserialize, Serialize};

use crate::partition::PartitionKey;

/// The payload of one commit of a shard index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardCheckpoint {
    /// The commit round.
    pub round: u64,
    /// Offset of the first message of the round: every message before it is durable.
    pub start: i64,
    /// Offset after the round's last message; `None` for a commit in the middle of a round.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<i64>,
    /// The indexes committed at the end of the round (`<kind>/<day>`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
}

impl ShardCheckpoint {
    /// The checkpoint as a commit payload.
    pub fn to_payload(&self) -> String {
        // A struct of integers and strings always serializes.
        serde_json::to_string(self).expect("checkpoint serializes")
    }

    /// Reads a commit payload; `None` for a commit without one or with another writer's.
    pub fn from_payload(payload: Option<&str>) -> Option<ShardCheckpoint> {
        serde_json::from_str(payload?).ok()
    }
}

/// The name of a partition in [`ShardCheckpoint::members`].
pub fn member_name(key: &PartitionKey) -> String {
    key.relative()
}

/// Where a shard resumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResumePoint {
    /// The highest round recorded; the next round is one more.
    pub round: u64,
    /// The first offset not known to be durable.
    pub offset: i64,
}

/// The resume point of a shard from the last commit payload of each of its indexes, or
/// `None` when no index recorded any offset.
pub fn resume_point(commits: &[(PartitionKey, Option<String>)]) -> Option<ResumePoint> {
    let checkpoints: Vec<(String, ShardCheckpoint)> = commits
        .iter()
        .filter_map(|(key, payload)| {
            ShardCheckpoint::from_payload(payload.as_deref()).map(|c| (member_name(key), c))
        })
        .collect();
    let round = checkpoints.iter().map(|(_, c)| c.round).max()?;
    let last: Vec<&ShardCheckpoint> = checkpoints
        .iter()
        .filter(|(_, c)| c.round == round)
        .map(|(_, c)| c)
        .collect();
    // All checkpoints of one round share its start.
    let start = last[0].start;
    let complete = last.iter().find_map(|c| c.end.map(|end| (end, &c.members)));
    let Some((end, members)) = complete else {
        return Some(ResumePoint {
            round,
            offset: start,
        });
    };
    let all_members_hold_it = members.iter().all(|member| {
        checkpoints
            .iter()
            .any(|(name, c)| name == member && c.round == round && c.end == Some(end))
    });
    let offset = if all_members_hold_it { end } else { start };
    Some(ResumePoint { round, offset })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition::PartitionKind;
    use chrono::NaiveDate;

    fn key(kind: PartitionKind, day: u32) -> PartitionKey {
        PartitionKey {
            day: NaiveDate::from_ymd_opt(2024, 1, day).unwrap(),
            kind,
            class: None,
            part: 0,
        }
    }

    fn commit(
        key: PartitionKey,
        round: u64,
        start: i64,
        end: Option<i64>,
        members: &[PartitionKey],
    ) -> (PartitionKey, Option<String>) {
        let checkpoint = ShardCheckpoint {
            round,
            start,
            end,
            members: members.iter().map(member_name).collect(),
        };
        (key, Some(checkpoint.to_payload()))
    }

    const A: PartitionKind = PartitionKind::Container;
    const B: PartitionKind = PartitionKind::K8sAudit;

    #[test]
    fn nothing_recorded_means_no_resume_point() {
        assert_eq!(resume_point(&[]), None);
        assert_eq!(resume_point(&[(key(A, 1), None)]), None);
        assert_eq!(
            resume_point(&[(key(A, 1), Some("not a checkpoint".into()))]),
            None
        );
    }

    #[test]
    fn a_complete_round_resumes_at_its_end() {
        let members = [key(A, 1), key(B, 1)];
        let commits = [
            commit(key(A, 1), 7, 100, Some(250), &members),
            commit(key(B, 1), 7, 100, Some(250), &members),
            // An older day last written in round 3 does not hold the shard back.
            commit(key(A, 2), 3, 10, Some(40), &[key(A, 2)]),
        ];
        assert_eq!(
            resume_point(&commits),
            Some(ResumePoint {
                round: 7,
                offset: 250
            })
        );
    }

    #[test]
    fn a_round_cut_between_member_commits_resumes_at_its_start() {
        let members = [key(A, 1), key(B, 1)];
        let commits = [
            commit(key(A, 1), 7, 100, Some(250), &members),
            // B died before its round-7 commit: it still holds round 6.
            commit(key(B, 1), 6, 60, Some(100), &[key(B, 1)]),
        ];
        assert_eq!(
            resume_point(&commits),
            Some(ResumePoint {
                round: 7,
                offset: 100
            })
        );
    }

    #[test]
    fn a_commit_in_the_middle_of_a_round_resumes_at_its_start() {
        let commits = [
            commit(key(A, 1), 5, 40, Some(90), &[key(A, 1)]),
            // Writer of day 2 closed during round 6, before the round ended.
            commit(key(A, 2), 6, 90, None, &[]),
        ];
        assert_eq!(
            resume_point(&commits),
            Some(ResumePoint {
                round: 6,
                offset: 90
            })
        );
    }

    #[test]
    fn a_round_whose_members_also_closed_early_is_complete() {
        let members = [key(A, 2)];
        let commits = [
            commit(key(A, 1), 6, 90, None, &[]),
            commit(key(A, 2), 6, 90, Some(130), &members),
        ];
        assert_eq!(
            resume_point(&commits),
            Some(ResumePoint {
                round: 6,
                offset: 130
            })
        );
    }
}
