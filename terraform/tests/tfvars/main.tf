# Test helper: reads the environments' .tfvars files so that each environment's run block can
# plan with exactly those values (a run block cannot load a var-file itself). It also refuses
# a file whose variables differ from the ones the test passes on, so none is silently dropped.
terraform {
  required_providers {
    terraform = {
      source = "terraform.io/builtin/terraform"
    }
  }
}

variable "files" {
  description = "Environment name => path of its .tfvars file (relative to the root module)."
  type        = map(string)
}

variable "expected_keys" {
  description = "The variables every environment file sets, and the test passes on."
  type        = set(string)
}

locals {
  values = { for env, path in var.files : env => provider::terraform::decode_tfvars(file(path)) }
}

output "values" {
  description = "Environment name => the variables its file sets."
  value       = local.values

  precondition {
    condition     = alltrue([for env, v in local.values : toset(keys(v)) == var.expected_keys])
    error_message = "An environment file sets other variables than the test passes on: ${jsonencode({ for env, v in local.values : env => { extra = setsubtract(keys(v), var.expected_keys), missing = setsubtract(var.expected_keys, keys(v)) } })}. Update tests/environments.tftest.hcl."
  }
}
