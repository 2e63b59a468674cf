# strata on Nomad: one job, one group of three allocations, one node each.
#
# Not run here (Nomad cannot be installed on the build machines): the job is
# parsed and checked by deploy/deploy_test.go; `nomad job validate` it
# against your cluster before relying on it. Needs Nomad >= 1.4 (Nomad
# variables, native service discovery and checks).
#
# Before the first run:
#
#   1. Every client that may run strata declares a host volume, owned by the
#      image's user (uid/gid 65532), in its client config:
#
#        client {
#          host_volume "strata-data" { path = "/srv/strata"  read_only = false }
#        }
#
#   2. The cluster key and the admin credential live in a Nomad variable the
#      job's tasks can read (the job's own path needs no extra policy):
#
#        nomad var put nomad/jobs/strata \
#          cluster_key="$(openssl rand -base64 32)" \
#          admin_access_key=SKADMIN0000000000001 \
#          admin_secret_key="$(openssl rand -base64 30 | tr '+/' '-_')"
#
#   3. The image strata:dev (`make docker-images`) is pushed to a registry
#      the clients can pull from; set `image` below accordingly.
#
# Driver: docker, because the image is what the project ships and tests
# (static binary, CA bundle, non-root user, healthcheck). It runs with host
# networking: raft, the cluster RPC and gossip (TCP and UDP) must be
# reachable at the address the node advertises, which is the client's own
# IP on fixed ports; no port mapping or NAT in between. An operator without
# docker can switch to the exec driver with the same args and the binary
# from an artifact block.
job "strata" {
  type        = "service"
  datacenters = ["*"]

  group "strata" {
    # Three voters: one node may fail without losing the quorum.
    count = 3

    # Static ports: two allocations on one client would collide, and
    # spreading them is what makes a node failure survivable anyway.
    constraint {
      operator = "distinct_hosts"
      value    = "true"
    }

    network {
      mode = "host"
      port "s3" {
        static = 9000
      }
      port "admin" {
        static = 9001
      }
      port "raft" {
        static = 9100
      }
      port "gossip" {
        static = 9101
      }
    }

    # Raft state must survive restarts and upgrades: a host volume, not the
    # allocation directory.
    volume "data" {
      type      = "host"
      source    = "strata-data"
      read_only = false
    }

    # One node at a time, and only once it is ready again: an update never
    # takes away more than one voter.
    update {
      max_parallel     = 1
      health_check     = "checks"
      min_healthy_time = "10s"
      healthy_deadline = "5m"
      auto_revert      = true
    }

    restart {
      attempts = 10
      interval = "10m"
      delay    = "5s"
      mode     = "delay"
    }

    service {
      name     = "strata-s3"
      provider = "nomad"
      port     = "s3"

      # /ready: the node has a leader and has caught up. A node that stays
      # unready (for instance one that started before any other member was
      # registered and so had nobody to join) is restarted; its join list is
      # rendered again from the services registered by then.
      check {
        name     = "ready"
        type     = "http"
        port     = "admin"
        path     = "/ready"
        interval = "10s"
        timeout  = "3s"

        check_restart {
          limit = 6
          grace = "2m"
        }
      }
    }

    service {
      name     = "strata-admin"
      provider = "nomad"
      port     = "admin"

      check {
        name     = "health"
        type     = "http"
        path     = "/health"
        interval = "10s"
        timeout  = "3s"
      }
    }

    # Discovery for --join: every node's gossip address.
    service {
      name     = "strata-gossip"
      provider = "nomad"
      port     = "gossip"
    }

    task "strata" {
      driver = "docker"

      config {
        image        = "strata:dev"
        network_mode = "host"
        args         = ["server", "--config", "/local/strata.yaml"]
      }

      volume_mount {
        volume      = "data"
        destination = "/data"
        read_only   = false
      }

      # Secrets from the Nomad variable, as environment of the task only
      # (secrets/ is not readable from other allocations). A changed key
      # needs a coordinated restart of every node: Nomad restarts this one.
      template {
        destination = "secrets/strata.env"
        env         = true
        change_mode = "restart"
        data        = <<-EOT
          {{- with nomadVar "nomad/jobs/strata" }}
          STRATA_CLUSTER_KEY={{ .cluster_key }}
          STRATA_ADMIN_ACCESS_KEY={{ .admin_access_key }}
          STRATA_ADMIN_SECRET_KEY={{ .admin_secret_key }}
          {{- end }}
        EOT
      }

      # Node settings. Allocation 0 bootstraps a new cluster (a no-op once
      # its data volume holds raft state). If allocation 0 is ever placed on
      # a client without its old volume while the others run, it forms a
      # second cluster that the members refuse to merge with (it stops and
      # says so): stop it, clear that volume and run it once with bootstrap
      # removed, or `strata join` it. Every node joins the gossip
      # addresses of the other registered strata nodes. The join list only
      # matters at first start (later a node rejoins its last known peers),
      # so a change does not restart anything: the file is rewritten and used
      # at the next start.
      template {
        destination = "local/strata.yaml"
        change_mode = "noop"
        data        = <<-EOT
          node_id: strata-{{ env "NOMAD_ALLOC_INDEX" }}
          data_dir: /data
          s3_addr: ":9000"
          admin_addr: ":9001"
          raft_addr: "0.0.0.0:9100"
          gossip_addr: "0.0.0.0:9101"
          advertise: "{{ env "NOMAD_IP_gossip" }}"
          dev_backend: false
          {{- if eq (env "NOMAD_ALLOC_INDEX") "0" }}
          bootstrap: true
          {{- end }}
          join:
          {{- range nomadService "strata-gossip" }}
          {{- if ne .AllocID (env "NOMAD_ALLOC_ID") }}
            - "{{ .Address }}:{{ .Port }}"
          {{- end }}
          {{- end }}
          {{- if ne (env "NOMAD_ALLOC_INDEX") "0" }}
            # Never an empty list: a node with a join list keeps trying it
            # (one that advertises an address and has none would only wait
            # for `strata join`). When nobody was registered yet, the node
            # retries this name until the ready check restarts the task
            # with the list rendered again; otherwise it is ignored.
            - "strata-0.invalid:9101"
          {{- end }}
        EOT
      }

      # SIGTERM drains in-flight requests (up to a minute) before raft
      # closes.
      kill_signal  = "SIGTERM"
      kill_timeout = "90s"

      resources {
        cpu    = 1000
        memory = 1024
      }
    }
  }
}
