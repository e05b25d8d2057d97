# Mask secrets in command lines that are printed (never in the command that runs). Source it.
# Twin of llava/utils/secrets.py (llava-train scrubs its own argv the same way); keep them in step.
#
#   llava_mask_args ARG...   prints the arguments joined by spaces, with *** for
#     - the value of a flag whose name has a part ending in token, key, secret(s), password or
#       passwd (--hub_token X, --wandb-api-key=X, --password X; not --tokenizer_name or --max_new_tokens)
#     - anything shaped like a Hugging Face token (hf_...) inside any argument
#     - an argument that is a bare 40-hex-digit W&B API key (also after --flag=)

llava_secret_flag() {
  local name="${1%%=*}" part
  [[ "$name" == -* ]] || return 1
  name="${name#"${name%%[!-]*}"}"  # without the leading dashes
  local IFS='_-.'
  for part in ${name,,}; do
    [[ "$part" =~ (token|key|secrets?|password|passwd)$ ]] && return 0
  done
  return 1
}

llava_mask_value() {
  local v="$1"
  while [[ "$v" =~ hf_[A-Za-z0-9]{20,} ]]; do v="${v/"${BASH_REMATCH[0]}"/***}"; done
  [[ "$v" =~ ^(local-)?[0-9a-f]{40}$ ]] && v="***"
  printf '%s' "$v"
}

# llava_mask_array ARG...: the masked arguments into the array LLAVA_MASKED (for printf %q).
llava_mask_array() {
  local out=() arg mask_next=0
  for arg in "$@"; do
    if ((mask_next)); then
      out+=("***"); mask_next=0
    elif [[ "$arg" == -*=* ]] && llava_secret_flag "$arg"; then
      out+=("${arg%%=*}=***")
    elif [[ "$arg" == -*=* ]]; then
      out+=("${arg%%=*}=$(llava_mask_value "${arg#*=}")")
    elif llava_secret_flag "$arg"; then
      out+=("$arg"); mask_next=1
    else
      out+=("$(llava_mask_value "$arg")")
    fi
  done
  LLAVA_MASKED=("${out[@]}")
}

llava_mask_args() {
  llava_mask_array "$@"
  echo "${LLAVA_MASKED[*]}"
}
