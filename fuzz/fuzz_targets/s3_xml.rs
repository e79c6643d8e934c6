//! Every XML request body of the S3 gateway, through the real router as the admin: each input
//! is sent as the body of CreateBucket, PutBucketLifecycleConfiguration, PutObjectTagging,
//! DeleteObjects, PutBucketEncryption and CompleteMultipartUpload. None may answer 5xx.
#![no_main]
use gatehouse_fuzz::{XML_ENDPOINTS, assert_not_server_error, env};
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        env();
    },
    |data: &[u8]| {
    let env = env();
    for (doc, method, uri) in XML_ENDPOINTS {
        let req = env.request(method, uri, data.to_vec());
        let (status, body) = env.send(&env.s3, req);
        assert_not_server_error(doc, status, &body);
    }
});
