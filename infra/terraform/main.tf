# Buckets for inputs and outputs, and a least-privilege policy for the pipeline's role.
#   terraform -chdir=infra/terraform init && terraform -chdir=infra/terraform apply
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "~> 5.0" }
  }
}

variable "region" { default = "eu-central-1" }
variable "output_bucket" { default = "alignsar-output" }
variable "input_bucket" { default = "alignsar-slc" }

provider "aws" { region = var.region }

resource "aws_s3_bucket" "output" { bucket = var.output_bucket }
resource "aws_s3_bucket" "input" { bucket = var.input_bucket }

# Public read of the STAC catalog and Zarr stores (ML users read straight from the cloud).
resource "aws_s3_bucket_public_access_block" "output" {
  bucket                  = aws_s3_bucket.output.id
  block_public_acls       = true
  ignore_public_acls      = true
  block_public_policy     = false
  restrict_public_buckets = false
}

data "aws_iam_policy_document" "pipeline" {
  statement {
    actions   = ["s3:GetObject", "s3:ListBucket"]
    resources = [aws_s3_bucket.input.arn, "${aws_s3_bucket.input.arn}/*"]
  }
  statement {
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"]
    resources = [aws_s3_bucket.output.arn, "${aws_s3_bucket.output.arn}/*"]
  }
}

resource "aws_iam_policy" "pipeline" {
  name   = "alignsar-pipeline"
  policy = data.aws_iam_policy_document.pipeline.json
}

output "storage_root" { value = "s3://${aws_s3_bucket.output.bucket}/alignsar" }
