#!/usr/bin/env python3
"""One step of the CLI sequence, done with boto3 (called by tests/cli/run_all.sh).

    boto3_seq.py --endpoint URL STEP ARGS...

STEP is one of:
    mb BUCKET                      create the bucket
    put FILE BUCKET KEY            upload_file (multipart above 8 MiB, the managed-transfer default)
    get BUCKET KEY FILE            download_file (ranged GETs above 8 MiB)
    sync-up DIR BUCKET PREFIX      upload every file under DIR as PREFIX/<relative path>
    sync-down BUCKET PREFIX DIR    download every key under PREFIX/ into DIR
    count BUCKET                   print the number of keys (ListObjectsV2, pages of 7)
    presign BUCKET KEY             print a presigned GET URL
    cp-remote BUCKET KEY BUCKET2 KEY2  server-side copy (CopyObject)
    buckets                        print every bucket name ListBuckets returns (paginated by 1)
    ls-bucket BUCKET               list the bucket's first keys (ListObjectsV2)
    rm-recursive BUCKET            delete every key (DeleteObjects in batches)
    rb BUCKET                      delete the bucket
    put-replication BUCKET ARN     PutBucketReplication, one rule to the destination ARN
    get-replication BUCKET         print GetBucketReplication's destination
    delete-replication BUCKET      DeleteBucketReplication
    put-policy BUCKET FILE         PutBucketPolicy with the JSON document in FILE
    get-policy BUCKET              print GetBucketPolicy's document
    policy-public BUCKET           print GetBucketPolicyStatus's IsPublic
    delete-policy BUCKET           DeleteBucketPolicy
    put-public FILE BUCKET KEY     upload_file with the canned ACL public-read
    put-sse FILE BUCKET KEY        upload_file with ServerSideEncryption AES256
    head-sse BUCKET KEY            print HeadObject's ServerSideEncryption
    put-default-enc BUCKET         PutBucketEncryption: AES256 by default
    get-default-enc BUCKET         print GetBucketEncryption's algorithm
    put-kms FILE BUCKET KEY KEYID  upload_file with SSE-KMS under key KEYID
    head-kms BUCKET KEY            print HeadObject's ServerSideEncryption and SSEKMSKeyId
    put-default-kms BUCKET KEYID   PutBucketEncryption: aws:kms with KEYID by default
    put-sse-c FILE BUCKET KEY KEYF upload_file with the SSE-C key in file KEYF
    get-sse-c BUCKET KEY FILE KEYF download_file with the SSE-C key in file KEYF
    put-cors BUCKET ORIGIN         PutBucketCors: GET from ORIGIN
    get-cors BUCKET                print the first rule's allowed origins
    post-upload FILE BUCKET PREFIX generate_presigned_post, then POST the form with urllib3;
                                   prints the key S3 answered with

Credentials and region come from the environment (AWS_SHARED_CREDENTIALS_FILE,
AWS_DEFAULT_REGION), exactly as for the aws CLI.
"""

import argparse
import os
import sys

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

MiB = 1 << 20
# The managed-transfer defaults, spelled out: the 64 MiB file goes up as 8 parts of 8 MiB.
TRANSFER = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB, max_concurrency=4)


def client(endpoint):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, read_timeout=20),
    )


def keys(s3, bucket, prefix=""):
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": 7}
    )
    for page in pages:
        for obj in page.get("Contents", []):
            yield obj["Key"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("step")
    ap.add_argument("args", nargs="*")
    a = ap.parse_args()
    s3 = client(a.endpoint)
    step, args = a.step, a.args

    if step == "mb":
        (bucket,) = args
        s3.create_bucket(Bucket=bucket)
    elif step == "put":
        path, bucket, key = args
        s3.upload_file(path, bucket, key, Config=TRANSFER)
    elif step == "get":
        bucket, key, path = args
        s3.download_file(bucket, key, path, Config=TRANSFER)
    elif step == "sync-up":
        root, bucket, prefix = args
        n = 0
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root).replace(os.sep, "/")
                s3.upload_file(path, bucket, f"{prefix}/{rel}", Config=TRANSFER)
                n += 1
        print(f"uploaded {n} files")
    elif step == "sync-down":
        bucket, prefix, root = args
        n = 0
        for key in keys(s3, bucket, prefix + "/"):
            path = os.path.join(root, *key[len(prefix) + 1 :].split("/"))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            s3.download_file(bucket, key, path, Config=TRANSFER)
            n += 1
        print(f"downloaded {n} files")
    elif step == "count":
        (bucket,) = args
        print(sum(1 for _ in keys(s3, bucket)))
    elif step == "presign":
        bucket, key = args
        print(s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=600))
    elif step == "cp-remote":
        src_bucket, src_key, bucket, key = args
        s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": src_bucket, "Key": src_key})
    elif step == "buckets":
        pages = s3.get_paginator("list_buckets").paginate(PaginationConfig={"PageSize": 1})
        for page in pages:
            for b in page.get("Buckets", []):
                print(b["Name"])
    elif step == "ls-bucket":
        (bucket,) = args
        s3.list_objects_v2(Bucket=bucket, MaxKeys=5)
    elif step == "rm-recursive":
        (bucket,) = args
        n = 0
        all_keys = list(keys(s3, bucket))
        for i in range(0, len(all_keys), 10):
            batch = [{"Key": k} for k in all_keys[i : i + 10]]
            resp = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch})
            if resp.get("Errors"):
                print(resp["Errors"], file=sys.stderr)
                return 1
            n += len(resp.get("Deleted", []))
        print(f"deleted {n} keys")
        if n != len(all_keys):
            print(f"expected {len(all_keys)} deleted", file=sys.stderr)
            return 1
    elif step == "rb":
        (bucket,) = args
        s3.delete_bucket(Bucket=bucket)
    elif step == "put-replication":
        bucket, arn = args
        s3.put_bucket_replication(
            Bucket=bucket,
            ReplicationConfiguration={
                "Role": "arn:aws:iam::1:role/r",
                "Rules": [
                    {
                        "ID": "r",
                        "Priority": 1,
                        "Status": "Enabled",
                        "Filter": {"Prefix": ""},
                        "Destination": {"Bucket": arn},
                        "DeleteMarkerReplication": {"Status": "Disabled"},
                    }
                ],
            },
        )
    elif step == "get-replication":
        (bucket,) = args
        conf = s3.get_bucket_replication(Bucket=bucket)["ReplicationConfiguration"]
        print(conf["Rules"][0]["Destination"]["Bucket"])
    elif step == "delete-replication":
        (bucket,) = args
        s3.delete_bucket_replication(Bucket=bucket)
    elif step == "put-versioning":
        (bucket,) = args
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    elif step == "versions":
        (bucket,) = args
        out = s3.list_object_versions(Bucket=bucket)
        for v in out.get("Versions", []):
            print(v["Key"], v["VersionId"], "latest" if v["IsLatest"] else "old")
        for m in out.get("DeleteMarkers", []):
            print(m["Key"], m["VersionId"], "marker")
    elif step == "get-version":
        bucket, key, version, path = args
        body = s3.get_object(Bucket=bucket, Key=key, VersionId=version)["Body"].read()
        with open(path, "wb") as f:
            f.write(body)
    elif step == "mb-lock":
        (bucket,) = args
        s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    elif step == "put-locked":
        path, bucket, key, until = args
        with open(path, "rb") as f:
            s3.put_object(
                Bucket=bucket,
                Key=key,
                Body=f.read(),
                ObjectLockMode="GOVERNANCE",
                ObjectLockRetainUntilDate=until,
            )
    elif step == "delete-version":
        bucket, key, version, bypass = args
        s3.delete_object(
            Bucket=bucket, Key=key, VersionId=version, BypassGovernanceRetention=bypass == "bypass"
        )
    elif step == "put-policy":
        bucket, path = args
        with open(path) as f:
            s3.put_bucket_policy(Bucket=bucket, Policy=f.read())
    elif step == "get-policy":
        (bucket,) = args
        print(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    elif step == "policy-public":
        (bucket,) = args
        print(str(s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"]).lower())
    elif step == "delete-policy":
        (bucket,) = args
        s3.delete_bucket_policy(Bucket=bucket)
    elif step == "put-sse":
        path, bucket, key = args
        s3.upload_file(path, bucket, key, Config=TRANSFER, ExtraArgs={"ServerSideEncryption": "AES256"})
    elif step == "head-sse":
        bucket, key = args
        print(s3.head_object(Bucket=bucket, Key=key).get("ServerSideEncryption"))
    elif step == "put-default-enc":
        (bucket,) = args
        s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )
    elif step == "get-default-enc":
        (bucket,) = args
        c = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
        print(c["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"])
    elif step == "put-kms":
        path, bucket, key, key_id = args
        s3.upload_file(
            path,
            bucket,
            key,
            Config=TRANSFER,
            ExtraArgs={"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key_id},
        )
    elif step == "head-kms":
        bucket, key = args
        h = s3.head_object(Bucket=bucket, Key=key)
        print(h.get("ServerSideEncryption"), h.get("SSEKMSKeyId"))
    elif step == "put-default-kms":
        bucket, key_id = args
        s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": key_id,
                        }
                    }
                ]
            },
        )
    elif step in ("put-sse-c", "get-sse-c"):
        with open(args[3], "rb") as f:
            extra = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": f.read()}
        if step == "put-sse-c":
            path, bucket, key = args[:3]
            s3.upload_file(path, bucket, key, Config=TRANSFER, ExtraArgs=extra)
        else:
            bucket, key, path = args[:3]
            s3.download_file(bucket, key, path, Config=TRANSFER, ExtraArgs=extra)
    elif step == "put-public":
        path, bucket, key = args
        s3.upload_file(path, bucket, key, ExtraArgs={"ACL": "public-read"}, Config=TRANSFER)
    elif step == "put-cors":
        bucket, origin = args
        s3.put_bucket_cors(
            Bucket=bucket,
            CORSConfiguration={"CORSRules": [{"AllowedOrigins": [origin], "AllowedMethods": ["GET"]}]},
        )
    elif step == "get-cors":
        (bucket,) = args
        print(" ".join(s3.get_bucket_cors(Bucket=bucket)["CORSRules"][0]["AllowedOrigins"]))
    elif step == "put-bucket-tags":
        bucket, key, value = args
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": key, "Value": value}]})
    elif step == "get-bucket-tags":
        (bucket,) = args
        print(" ".join(f"{t['Key']}={t['Value']}" for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]))
    elif step == "attributes":
        bucket, key = args
        r = s3.get_object_attributes(Bucket=bucket, Key=key, ObjectAttributes=["ETag", "ObjectSize", "StorageClass"])
        print(r["ObjectSize"], r["ETag"], r["StorageClass"])
    elif step == "owner":
        (bucket,) = args
        print(s3.get_bucket_acl(Bucket=bucket)["Owner"]["ID"])
    elif step == "head-as-owner":
        bucket, key, owner = args
        s3.head_object(Bucket=bucket, Key=key, ExpectedBucketOwner=owner)
    elif step == "put-lifecycle-tag":
        bucket, tag_key, tag_value = args
        s3.put_bucket_lifecycle_configuration(
            Bucket=bucket,
            LifecycleConfiguration={
                "Rules": [
                    {
                        "ID": "tagged",
                        "Status": "Enabled",
                        "Filter": {"Tag": {"Key": tag_key, "Value": tag_value}},
                        "Expiration": {"Days": 30},
                    }
                ]
            },
        )
    elif step == "head-expiration":
        bucket, key = args
        print(s3.head_object(Bucket=bucket, Key=key).get("Expiration", ""))
    elif step == "sigv2":
        # botocore's SigV2 signer (signature_version "s3"), path-style: it signs a bucket's own
        # requests as `/bucket/` while it sends `/bucket`; object requests as sent.
        (bucket,) = args
        v2 = boto3.client(
            "s3",
            endpoint_url=a.endpoint,
            config=Config(
                signature_version="s3", s3={"addressing_style": "path"}, retries={"max_attempts": 1}
            ),
        )
        v2.create_bucket(Bucket=bucket)
        v2.put_object(Bucket=bucket, Key="v2/one", Body=b"signed with v2")
        # Sub-resources are signed as part of the resource (`?cors`, `?versioning`, ...).
        rule = {"AllowedOrigins": ["https://v2.example.org"], "AllowedMethods": ["GET"]}
        v2.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [rule]})
        origins = v2.get_bucket_cors(Bucket=bucket)["CORSRules"][0]["AllowedOrigins"]
        v2.delete_bucket_cors(Bucket=bucket)
        v2.get_bucket_versioning(Bucket=bucket)
        if origins != ["https://v2.example.org"]:
            return 1
        listed = [o["Key"] for o in v2.list_objects(Bucket=bucket).get("Contents", [])]
        body = v2.get_object(Bucket=bucket, Key="v2/one")["Body"].read()
        v2.delete_object(Bucket=bucket, Key="v2/one")
        v2.delete_bucket(Bucket=bucket)
        print(listed, body.decode())
        if listed != ["v2/one"] or body != b"signed with v2":
            return 1
    elif step == "post-upload":
        import urllib3
        import xml.etree.ElementTree as ET

        path, bucket, prefix = args
        post = s3.generate_presigned_post(
            bucket,
            prefix + "/${filename}",
            Fields={"success_action_status": "201"},
            Conditions=[
                {"success_action_status": "201"},
                ["starts-with", "$key", prefix + "/"],
                ["content-length-range", 1, 100 * MiB],
            ],
            ExpiresIn=600,
        )
        with open(path, "rb") as f:
            data = f.read()
        fields = dict(post["fields"])
        fields["file"] = (os.path.basename(path), data, "application/octet-stream")
        r = urllib3.PoolManager().request("POST", post["url"], fields=fields)
        if r.status != 201:
            print(r.status, r.data.decode(errors="replace"), file=sys.stderr)
            return 1
        root = ET.fromstring(r.data)
        print(root.findtext("Key"))
    else:
        ap.error(f"unknown step {step}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
