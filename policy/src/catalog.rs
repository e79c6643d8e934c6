//! The S3 actions a policy may name, from AWS's "Actions, resources, and condition keys for
//! Amazon S3", each with the resource type it applies to.

use crate::pattern::Pattern;
#[cfg(test)]
use std::cmp::Ordering;

/// The resource type an action applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `arn:aws:s3:::bucket`
    Bucket,
    /// `arn:aws:s3:::bucket/key`
    Object,
    /// Neither (account, access point, job, Storage Lens ... or no resource at all, like
    /// `s3:ListAllMyBuckets`): valid in a policy, but never applies to a bucket policy's
    /// resources.
    Other,
}

/// A catalog entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Action {
    /// The name without the `s3:` prefix, spelt as AWS spells it.
    pub name: &'static str,
    pub kind: Kind,
}

/// Every action, sorted by lowercased name (the unit tests check it).
pub static ACTIONS: &[Action] = &[
    Action {
        name: "AbortMultipartUpload",
        kind: Kind::Object,
    },
    Action {
        name: "BypassGovernanceRetention",
        kind: Kind::Object,
    },
    Action {
        name: "CreateAccessPoint",
        kind: Kind::Other,
    },
    Action {
        name: "CreateBucket",
        kind: Kind::Bucket,
    },
    Action {
        name: "CreateBucketMetadataTableConfiguration",
        kind: Kind::Bucket,
    },
    Action {
        name: "CreateJob",
        kind: Kind::Other,
    },
    Action {
        name: "CreateMultiRegionAccessPoint",
        kind: Kind::Other,
    },
    Action {
        name: "DeleteAccessPoint",
        kind: Kind::Other,
    },
    Action {
        name: "DeleteAccessPointPolicy",
        kind: Kind::Other,
    },
    Action {
        name: "DeleteBucket",
        kind: Kind::Bucket,
    },
    Action {
        name: "DeleteBucketMetadataTableConfiguration",
        kind: Kind::Bucket,
    },
    Action {
        name: "DeleteBucketPolicy",
        kind: Kind::Bucket,
    },
    Action {
        name: "DeleteBucketWebsite",
        kind: Kind::Bucket,
    },
    Action {
        name: "DeleteMultiRegionAccessPoint",
        kind: Kind::Other,
    },
    Action {
        name: "DeleteObject",
        kind: Kind::Object,
    },
    Action {
        name: "DeleteObjectTagging",
        kind: Kind::Object,
    },
    Action {
        name: "DeleteObjectVersion",
        kind: Kind::Object,
    },
    Action {
        name: "DeleteObjectVersionTagging",
        kind: Kind::Object,
    },
    Action {
        name: "DeleteStorageLensConfiguration",
        kind: Kind::Other,
    },
    Action {
        name: "DescribeJob",
        kind: Kind::Other,
    },
    Action {
        name: "DescribeMultiRegionAccessPointOperation",
        kind: Kind::Other,
    },
    Action {
        name: "GetAccelerateConfiguration",
        kind: Kind::Bucket,
    },
    Action {
        name: "GetAccessPoint",
        kind: Kind::Other,
    },
    Action {
        name: "GetAccessPointPolicy",
        kind: Kind::Other,
    },
    Action {
        name: "GetAccessPointPolicyStatus",
        kind: Kind::Other,
    },
    Action {
        name: "GetAccountPublicAccessBlock",
        kind: Kind::Other,
    },
    Action {
        name: "GetAnalyticsConfiguration",
        kind: Kind::Bucket,
    },
    Action {
        name: "GetBucketAcl",
        kind: Kind::Bucket,
    },
    Action {
        name: "GetBucketCORS",
        kind: Kind::Bucket,
    },
    Action {
        name: "GetBucketLocation",
        kind: Kind::Bucket,
    },
    Action {
        name: "GetBucketLogging",
        kind: Kind::Bucket,
    },
    Action {
        name: "GetBucketMetadataTableConfiguration",
        kind: Kind::Bucket,
    },
    Action {
        name: "GetBucketNotification",
        kind: Kind::Bucket,
    },
    Action {
        name: "GetBucketObjectLockConfiguration",
        kind: Kind::Bucket,
    },
    Action {
        name: "GetBucketOwnershipControls",
        kind: Kind::Bucket,
    },
    Action {
        name: "GetBucketPolicy",
        kind: Kind::Bucket,
    },
    Action {
        name: "GetBucketPolicyStatus",
        kind: Kind::Bucket,
    },
    Action {
        name: "GetBucketPublicAccessBlock",
        kind: Kind::Bucket,
    },
    Action {
        name: "GetBucketRequestPayment",
        kind: Kind::Bucket,
    },
    Action {
        name: "GetBucketTagging",
        kind: Kind::Bucket,
    },
    Action {
        name: "GetBucketVersioning",
        kind: Kind::Bucket,
    },
    Action {
        name: "GetBucketWebsite",
        kind: Kind::Bucket,
    },
    Action {
        name: "GetEncryptionConfiguration",
        kind: Kind::Bucket,
    },
    Action {
        name: "GetIntelligentTieringConfiguration",
        kind: Kind::Bucket,
    },
    Action {
        name: "GetInventoryConfiguration",
        kind: Kind::Bucket,
    },
    Action {
        name: "GetLifecycleConfiguration",
        kind: Kind::Bucket,
    },
    Action {
        name: "GetMetricsConfiguration",
        kind: Kind::Bucket,
    },
    Action {
        name: "GetMultiRegionAccessPoint",
        kind: Kind::Other,
    },
    Action {
        name: "GetMultiRegionAccessPointPolicy",
        kind: Kind::Other,
    },
    Action {
        name: "GetMultiRegionAccessPointPolicyStatus",
        kind: Kind::Other,
    },
    Action {
        name: "GetObject",
        kind: Kind::Object,
    },
    Action {
        name: "GetObjectAcl",
        kind: Kind::Object,
    },
    Action {
        name: "GetObjectAttributes",
        kind: Kind::Object,
    },
    Action {
        name: "GetObjectLegalHold",
        kind: Kind::Object,
    },
    Action {
        name: "GetObjectRetention",
        kind: Kind::Object,
    },
    Action {
        name: "GetObjectTagging",
        kind: Kind::Object,
    },
    Action {
        name: "GetObjectTorrent",
        kind: Kind::Object,
    },
    Action {
        name: "GetObjectVersion",
        kind: Kind::Object,
    },
    Action {
        name: "GetObjectVersionAcl",
        kind: Kind::Object,
    },
    Action {
        name: "GetObjectVersionAttributes",
        kind: Kind::Object,
    },
    Action {
        name: "GetObjectVersionForReplication",
        kind: Kind::Object,
    },
    Action {
        name: "GetObjectVersionTagging",
        kind: Kind::Object,
    },
    Action {
        name: "GetObjectVersionTorrent",
        kind: Kind::Object,
    },
    Action {
        name: "GetReplicationConfiguration",
        kind: Kind::Bucket,
    },
    Action {
        name: "GetStorageLensConfiguration",
        kind: Kind::Other,
    },
    Action {
        name: "GetStorageLensDashboard",
        kind: Kind::Other,
    },
    Action {
        name: "InitiateReplication",
        kind: Kind::Object,
    },
    Action {
        name: "ListAccessPoints",
        kind: Kind::Other,
    },
    Action {
        name: "ListAllMyBuckets",
        kind: Kind::Other,
    },
    Action {
        name: "ListBucket",
        kind: Kind::Bucket,
    },
    Action {
        name: "ListBucketMultipartUploads",
        kind: Kind::Bucket,
    },
    Action {
        name: "ListBucketVersions",
        kind: Kind::Bucket,
    },
    Action {
        name: "ListJobs",
        kind: Kind::Other,
    },
    Action {
        name: "ListMultipartUploadParts",
        kind: Kind::Object,
    },
    Action {
        name: "ListMultiRegionAccessPoints",
        kind: Kind::Other,
    },
    Action {
        name: "ListStorageLensConfigurations",
        kind: Kind::Other,
    },
    Action {
        name: "ObjectOwnerOverrideToBucketOwner",
        kind: Kind::Object,
    },
    Action {
        name: "PauseReplication",
        kind: Kind::Bucket,
    },
    Action {
        name: "PutAccelerateConfiguration",
        kind: Kind::Bucket,
    },
    Action {
        name: "PutAccessPointPolicy",
        kind: Kind::Other,
    },
    Action {
        name: "PutAccountPublicAccessBlock",
        kind: Kind::Other,
    },
    Action {
        name: "PutAnalyticsConfiguration",
        kind: Kind::Bucket,
    },
    Action {
        name: "PutBucketAcl",
        kind: Kind::Bucket,
    },
    Action {
        name: "PutBucketCORS",
        kind: Kind::Bucket,
    },
    Action {
        name: "PutBucketLogging",
        kind: Kind::Bucket,
    },
    Action {
        name: "PutBucketNotification",
        kind: Kind::Bucket,
    },
    Action {
        name: "PutBucketObjectLockConfiguration",
        kind: Kind::Bucket,
    },
    Action {
        name: "PutBucketOwnershipControls",
        kind: Kind::Bucket,
    },
    Action {
        name: "PutBucketPolicy",
        kind: Kind::Bucket,
    },
    Action {
        name: "PutBucketPublicAccessBlock",
        kind: Kind::Bucket,
    },
    Action {
        name: "PutBucketRequestPayment",
        kind: Kind::Bucket,
    },
    Action {
        name: "PutBucketTagging",
        kind: Kind::Bucket,
    },
    Action {
        name: "PutBucketVersioning",
        kind: Kind::Bucket,
    },
    Action {
        name: "PutBucketWebsite",
        kind: Kind::Bucket,
    },
    Action {
        name: "PutEncryptionConfiguration",
        kind: Kind::Bucket,
    },
    Action {
        name: "PutIntelligentTieringConfiguration",
        kind: Kind::Bucket,
    },
    Action {
        name: "PutInventoryConfiguration",
        kind: Kind::Bucket,
    },
    Action {
        name: "PutLifecycleConfiguration",
        kind: Kind::Bucket,
    },
    Action {
        name: "PutMetricsConfiguration",
        kind: Kind::Bucket,
    },
    Action {
        name: "PutMultiRegionAccessPointPolicy",
        kind: Kind::Other,
    },
    Action {
        name: "PutObject",
        kind: Kind::Object,
    },
    Action {
        name: "PutObjectAcl",
        kind: Kind::Object,
    },
    Action {
        name: "PutObjectLegalHold",
        kind: Kind::Object,
    },
    Action {
        name: "PutObjectRetention",
        kind: Kind::Object,
    },
    Action {
        name: "PutObjectTagging",
        kind: Kind::Object,
    },
    Action {
        name: "PutObjectVersionAcl",
        kind: Kind::Object,
    },
    Action {
        name: "PutObjectVersionTagging",
        kind: Kind::Object,
    },
    Action {
        name: "PutReplicationConfiguration",
        kind: Kind::Bucket,
    },
    Action {
        name: "PutStorageLensConfiguration",
        kind: Kind::Other,
    },
    Action {
        name: "ReplicateDelete",
        kind: Kind::Object,
    },
    Action {
        name: "ReplicateObject",
        kind: Kind::Object,
    },
    Action {
        name: "ReplicateTags",
        kind: Kind::Object,
    },
    Action {
        name: "RestoreObject",
        kind: Kind::Object,
    },
    Action {
        name: "UpdateJobPriority",
        kind: Kind::Other,
    },
    Action {
        name: "UpdateJobStatus",
        kind: Kind::Other,
    },
];

/// [`ACTIONS`]' names, lowercased, in the same order.
static LOWER: &[&str] = &[
    "abortmultipartupload",
    "bypassgovernanceretention",
    "createaccesspoint",
    "createbucket",
    "createbucketmetadatatableconfiguration",
    "createjob",
    "createmultiregionaccesspoint",
    "deleteaccesspoint",
    "deleteaccesspointpolicy",
    "deletebucket",
    "deletebucketmetadatatableconfiguration",
    "deletebucketpolicy",
    "deletebucketwebsite",
    "deletemultiregionaccesspoint",
    "deleteobject",
    "deleteobjecttagging",
    "deleteobjectversion",
    "deleteobjectversiontagging",
    "deletestoragelensconfiguration",
    "describejob",
    "describemultiregionaccesspointoperation",
    "getaccelerateconfiguration",
    "getaccesspoint",
    "getaccesspointpolicy",
    "getaccesspointpolicystatus",
    "getaccountpublicaccessblock",
    "getanalyticsconfiguration",
    "getbucketacl",
    "getbucketcors",
    "getbucketlocation",
    "getbucketlogging",
    "getbucketmetadatatableconfiguration",
    "getbucketnotification",
    "getbucketobjectlockconfiguration",
    "getbucketownershipcontrols",
    "getbucketpolicy",
    "getbucketpolicystatus",
    "getbucketpublicaccessblock",
    "getbucketrequestpayment",
    "getbuckettagging",
    "getbucketversioning",
    "getbucketwebsite",
    "getencryptionconfiguration",
    "getintelligenttieringconfiguration",
    "getinventoryconfiguration",
    "getlifecycleconfiguration",
    "getmetricsconfiguration",
    "getmultiregionaccesspoint",
    "getmultiregionaccesspointpolicy",
    "getmultiregionaccesspointpolicystatus",
    "getobject",
    "getobjectacl",
    "getobjectattributes",
    "getobjectlegalhold",
    "getobjectretention",
    "getobjecttagging",
    "getobjecttorrent",
    "getobjectversion",
    "getobjectversionacl",
    "getobjectversionattributes",
    "getobjectversionforreplication",
    "getobjectversiontagging",
    "getobjectversiontorrent",
    "getreplicationconfiguration",
    "getstoragelensconfiguration",
    "getstoragelensdashboard",
    "initiatereplication",
    "listaccesspoints",
    "listallmybuckets",
    "listbucket",
    "listbucketmultipartuploads",
    "listbucketversions",
    "listjobs",
    "listmultipartuploadparts",
    "listmultiregionaccesspoints",
    "liststoragelensconfigurations",
    "objectowneroverridetobucketowner",
    "pausereplication",
    "putaccelerateconfiguration",
    "putaccesspointpolicy",
    "putaccountpublicaccessblock",
    "putanalyticsconfiguration",
    "putbucketacl",
    "putbucketcors",
    "putbucketlogging",
    "putbucketnotification",
    "putbucketobjectlockconfiguration",
    "putbucketownershipcontrols",
    "putbucketpolicy",
    "putbucketpublicaccessblock",
    "putbucketrequestpayment",
    "putbuckettagging",
    "putbucketversioning",
    "putbucketwebsite",
    "putencryptionconfiguration",
    "putintelligenttieringconfiguration",
    "putinventoryconfiguration",
    "putlifecycleconfiguration",
    "putmetricsconfiguration",
    "putmultiregionaccesspointpolicy",
    "putobject",
    "putobjectacl",
    "putobjectlegalhold",
    "putobjectretention",
    "putobjecttagging",
    "putobjectversionacl",
    "putobjectversiontagging",
    "putreplicationconfiguration",
    "putstoragelensconfiguration",
    "replicatedelete",
    "replicateobject",
    "replicatetags",
    "restoreobject",
    "updatejobpriority",
    "updatejobstatus",
];

/// Number of 64-bit words in an [`ActionSet`].
const WORDS: usize = ACTIONS.len().div_ceil(64);

/// A set of catalog actions, as a bit set over [`ACTIONS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct ActionSet([u64; WORDS]);

impl ActionSet {
    pub(crate) fn insert(&mut self, index: usize) {
        self.0[index / 64] |= 1 << (index % 64);
    }
    pub(crate) fn contains(&self, index: usize) -> bool {
        self.0[index / 64] & (1 << (index % 64)) != 0
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }
    pub(crate) fn union(&mut self, other: &ActionSet) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a |= b;
        }
    }
    /// Every action, or every action outside `self`.
    pub(crate) fn complement(&self) -> ActionSet {
        let mut out = ActionSet::default();
        for i in 0..ACTIONS.len() {
            if !self.contains(i) {
                out.insert(i);
            }
        }
        out
    }
    pub(crate) fn iter(&self) -> impl Iterator<Item = &'static Action> + '_ {
        ACTIONS
            .iter()
            .enumerate()
            .filter(|(i, _)| self.contains(*i))
            .map(|(_, a)| a)
    }
}

#[cfg(test)]
fn cmp_ignore_ascii_case(a: &str, b: &str) -> Ordering {
    for (x, y) in a.bytes().zip(b.bytes()) {
        let (x, y) = (x.to_ascii_lowercase(), y.to_ascii_lowercase());
        if x != y {
            return x.cmp(&y);
        }
    }
    a.len().cmp(&b.len())
}

/// The index in [`ACTIONS`] of `action` (`s3:GetObject`, any case), if it is one.
pub(crate) fn lookup(action: &str) -> Option<usize> {
    let (service, name) = action.split_once(':')?;
    if !service.eq_ignore_ascii_case("s3") {
        return None;
    }
    let mut buf = [0u8; 64];
    let lowered = buf.get_mut(..name.len())?;
    lowered.copy_from_slice(name.as_bytes());
    lowered.make_ascii_lowercase();
    LOWER.binary_search_by(|n| n.as_bytes().cmp(lowered)).ok()
}

/// The catalog actions a lowercased action pattern (`s3:get*`, `*`) matches.
pub(crate) fn matching(pattern: &Pattern) -> ActionSet {
    let mut set = ActionSet::default();
    let mut full = String::new();
    for (i, a) in ACTIONS.iter().enumerate() {
        full.clear();
        full.push_str("s3:");
        full.push_str(a.name);
        if pattern.is_match(&full, true, &[]) {
            set.insert(i);
        }
    }
    set
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sorted_and_unique() {
        for pair in ACTIONS.windows(2) {
            assert_eq!(
                cmp_ignore_ascii_case(pair[0].name, pair[1].name),
                Ordering::Less,
                "{} / {}",
                pair[0].name,
                pair[1].name
            );
        }
    }

    #[test]
    fn lowercase_names_agree() {
        assert_eq!(LOWER.len(), ACTIONS.len());
        for (l, a) in LOWER.iter().zip(ACTIONS) {
            assert_eq!(*l, a.name.to_ascii_lowercase());
        }
        assert!(ACTIONS.iter().all(|a| a.name.len() <= 64));
    }

    #[test]
    fn lookups() {
        let i = lookup("s3:GetObject").unwrap();
        assert_eq!(ACTIONS[i].name, "GetObject");
        assert_eq!(ACTIONS[i].kind, Kind::Object);
        assert_eq!(lookup("S3:getobject"), Some(i));
        assert_eq!(ACTIONS[lookup("s3:ListBucket").unwrap()].kind, Kind::Bucket);
        assert_eq!(
            ACTIONS[lookup("s3:ListAllMyBuckets").unwrap()].kind,
            Kind::Other
        );
        assert_eq!(lookup("s3:PutObjectLockConfiguration"), None);
        assert_eq!(lookup("iam:GetObject"), None);
        assert_eq!(lookup("GetObject"), None);
    }

    #[test]
    fn patterns() {
        let all = matching(&Pattern::parse("*", true, false));
        assert_eq!(all.iter().count(), ACTIONS.len());
        let gets = matching(&Pattern::parse("s3:getobject*", true, false));
        assert!(gets.iter().all(|a| a.name.starts_with("GetObject")));
        assert!(gets.iter().count() > 5);
        assert!(matching(&Pattern::parse("s3:nothing*", true, false)).is_empty());
        assert!(matching(&Pattern::parse("iam:*", true, false)).is_empty());
    }
}
