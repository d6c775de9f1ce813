# Data and artifacts buckets: versioned (dataset versions are object versions), KMS-encrypted,
# never public, TLS-only, events to EventBridge, access logged, old versions expired.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  environment                       = "prod"
  data_noncurrent_version_days      = 400
  artifacts_noncurrent_version_days = 60
}

run "buckets" {
  assert {
    condition = (
      aws_s3_bucket.this["data"].bucket == "mlops-glue-prod-data-123456789012" &&
      aws_s3_bucket.this["artifacts"].bucket == "mlops-glue-prod-artifacts-123456789012" &&
      output.data_bucket_name == "mlops-glue-prod-data-123456789012" &&
      output.artifacts_bucket_name == "mlops-glue-prod-artifacts-123456789012"
    )
    error_message = "Default bucket names must be <name>-<environment>-<purpose>-<account id>, and exported."
  }

  assert {
    condition     = alltrue([for b in aws_s3_bucket.this : !b.force_destroy])
    error_message = "Buckets must not be force-destroyable by default."
  }

  assert {
    condition = alltrue([for k, b in aws_s3_bucket.this :
      aws_s3_bucket_versioning.this[k].bucket == b.id &&
      aws_s3_bucket_versioning.this[k].versioning_configuration[0].status == "Enabled"
    ])
    error_message = "Data and artifacts buckets must be versioned."
  }

  assert {
    condition = alltrue([for k, b in aws_s3_bucket.this :
      aws_s3_bucket_server_side_encryption_configuration.this[k].bucket == b.id &&
      one(aws_s3_bucket_server_side_encryption_configuration.this[k].rule).apply_server_side_encryption_by_default[0].sse_algorithm == "aws:kms" &&
      one(aws_s3_bucket_server_side_encryption_configuration.this[k].rule).apply_server_side_encryption_by_default[0].kms_master_key_id == aws_kms_key.s3.arn &&
      one(aws_s3_bucket_server_side_encryption_configuration.this[k].rule).bucket_key_enabled
    ])
    error_message = "Data and artifacts buckets must be encrypted with the buckets' KMS key (bucket key on)."
  }

  assert {
    condition = alltrue([for k, b in aws_s3_bucket.this :
      aws_s3_bucket_public_access_block.this[k].bucket == b.id &&
      aws_s3_bucket_public_access_block.this[k].block_public_acls &&
      aws_s3_bucket_public_access_block.this[k].block_public_policy &&
      aws_s3_bucket_public_access_block.this[k].ignore_public_acls &&
      aws_s3_bucket_public_access_block.this[k].restrict_public_buckets &&
      aws_s3_bucket_ownership_controls.this[k].rule[0].object_ownership == "BucketOwnerEnforced"
    ])
    error_message = "Data and artifacts buckets must block all public access and disable ACLs."
  }

  assert {
    condition = alltrue([for k, b in aws_s3_bucket.this :
      aws_s3_bucket_notification.this[k].bucket == b.id && aws_s3_bucket_notification.this[k].eventbridge
    ])
    error_message = "Data and artifacts buckets must send their events to EventBridge."
  }

  assert {
    condition = alltrue([for k, b in aws_s3_bucket.this :
      aws_s3_bucket_policy.this[k].bucket == b.id &&
      anytrue([for s in jsondecode(aws_s3_bucket_policy.this[k].policy).Statement :
        s.Effect == "Deny" && s.Principal == "*" && s.Action == "s3:*" &&
        toset(s.Resource) == toset([b.arn, "${b.arn}/*"]) &&
        try(s.Condition.Bool["aws:SecureTransport"], "") == "false"
      ])
    ])
    error_message = "Data and artifacts bucket policies must deny every request without TLS."
  }

  assert {
    condition = alltrue([for k, b in aws_s3_bucket.this :
      aws_s3_bucket_logging.this[k].bucket == b.id && aws_s3_bucket_logging.this[k].target_bucket == aws_s3_bucket.logs.id
    ])
    error_message = "Data and artifacts buckets must log access to the logs bucket."
  }

  assert {
    condition = (
      one([for r in aws_s3_bucket_lifecycle_configuration.this["data"].rule : r.noncurrent_version_expiration[0].noncurrent_days if r.id == "noncurrent-versions"]) == 400 &&
      one([for r in aws_s3_bucket_lifecycle_configuration.this["artifacts"].rule : r.noncurrent_version_expiration[0].noncurrent_days if r.id == "noncurrent-versions"]) == 60
    )
    error_message = "Noncurrent versions must expire after the configured number of days per bucket."
  }

  assert {
    condition = alltrue([for k, b in aws_s3_bucket.this :
      aws_s3_bucket_lifecycle_configuration.this[k].bucket == b.id &&
      anytrue([for r in aws_s3_bucket_lifecycle_configuration.this[k].rule : r.status == "Enabled" && length(r.abort_incomplete_multipart_upload) == 1])
    ])
    error_message = "Incomplete multipart uploads must be cleaned up."
  }

  assert {
    condition = anytrue([for st in jsondecode(aws_kms_key.s3.policy).Statement :
      st.Principal == { AWS = "*" } && contains(flatten([st.Action]), "kms:Decrypt") &&
      try(st.Condition.StringEquals["kms:ViaService"], "") == "s3.eu-west-1.amazonaws.com" &&
      try(st.Condition.StringEquals["kms:CallerAccount"], "") == "123456789012"
    ])
    error_message = "The buckets' key must be usable through S3 by this account only (producers and functions need S3 permissions only)."
  }

  assert {
    condition     = output.buckets_kms_key_arn == aws_kms_key.s3.arn
    error_message = "The buckets' key must be exported for the SAM functions' policies."
  }

  assert {
    condition = (
      one(aws_s3_bucket_server_side_encryption_configuration.logs.rule).apply_server_side_encryption_by_default[0].sse_algorithm == "AES256" &&
      aws_s3_bucket_versioning.logs.versioning_configuration[0].status == "Enabled" &&
      aws_s3_bucket_public_access_block.logs.block_public_acls &&
      aws_s3_bucket_public_access_block.logs.block_public_policy &&
      aws_s3_bucket_public_access_block.logs.ignore_public_acls &&
      aws_s3_bucket_public_access_block.logs.restrict_public_buckets
    )
    error_message = "The logs bucket must be encrypted (SSE-S3: the only kind access logging accepts), versioned and private."
  }

  assert {
    condition     = one(aws_s3_bucket_lifecycle_configuration.logs.rule).expiration[0].days == 365
    error_message = "Logs must expire after access_log_days."
  }
}

run "bucket_names_can_be_chosen" {
  command = plan

  variables {
    data_bucket_name      = "acme-ml-datasets"
    artifacts_bucket_name = "acme-ml-artifacts"
    force_destroy_buckets = true
  }

  assert {
    condition     = aws_s3_bucket.this["data"].bucket == "acme-ml-datasets" && aws_s3_bucket.this["artifacts"].bucket == "acme-ml-artifacts"
    error_message = "data_bucket_name and artifacts_bucket_name must name the buckets."
  }

  assert {
    condition     = alltrue([for b in aws_s3_bucket.this : b.force_destroy]) && aws_s3_bucket.logs.force_destroy
    error_message = "force_destroy_buckets must apply to every bucket."
  }
}
