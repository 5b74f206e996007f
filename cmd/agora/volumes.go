package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"text/tabwriter"

	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/encoding/protojson"
)

// volumesCmd is Mesos' operator /create-volumes and /destroy-volumes, and
// a listing of the volumes agents hold: an operator makes a volume on disk
// reserved for a role (agora reserve) before a stateful framework of that
// role runs, and destroys it once no task uses it.
type volumesCmd struct {
	List    volumesListCmd    `cmd:"" default:"withargs" help:"List the persistent volumes of every agent (the default)."`
	Create  volumesCreateCmd  `cmd:"" help:"Create persistent volumes on disk reserved for a role: agora volumes create AGENT --role prod db:data:512 (--shared: several tasks use each at once)."`
	Destroy volumesDestroyCmd `cmd:"" help:"Destroy persistent volumes no task uses (their files are removed): agora volumes destroy AGENT --role prod db:data:512."`
}

type volumesChange struct {
	masterFlags
	Agent   string   `arg:"" help:"Agent ID (or its hostname)."`
	Volumes []string `arg:"" help:"Volumes ID:PATH:MIB: the volume's id, where a task sees it in its sandbox, and its size taken from the role's reserved disk."`
	Role    string   `required:"" env:"AGORA_VOLUMES_ROLE" help:"The role whose reserved disk holds the volumes."`
}

type volumesCreateCmd struct {
	volumesChange
	Shared bool `help:"Create shared volumes (Mesos' shared persistent volumes): several tasks of the role use one at once, from frameworks with the SHARED_RESOURCES capability."`
}

func (c *volumesCreateCmd) Run(*slog.Logger) error {
	if c.Shared {
		return c.post("/create-volumes", "shared", "true")
	}
	return c.post("/create-volumes")
}

type volumesDestroyCmd struct{ volumesChange }

func (c *volumesDestroyCmd) Run(*slog.Logger) error { return c.post("/destroy-volumes") }

// post sends the change to the master's path, with extra form fields as
// name, value pairs.
func (c *volumesChange) post(path string, extra ...string) error {
	for _, v := range c.Volumes {
		if _, err := messages.ParseVolume(v, c.Role); err != nil {
			return err
		}
	}
	id, err := c.agentID(c.Agent)
	if err != nil {
		return err
	}
	q := url.Values{"agentId": {id}, "role": {c.Role}, "volume": c.Volumes}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return c.masterFlags.post(path + "?" + q.Encode())
}

type volumesListCmd struct {
	masterFlags
	JSON bool `name:"json" help:"Print the volumes as JSON: a list of {agentId, hostname, volume}, the volume as the master's state has it."`
}

func (c *volumesListCmd) Run(*slog.Logger) error {
	st, err := c.state()
	if err != nil {
		return err
	}
	if c.JSON {
		return printVolumesJSON(os.Stdout, st)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "AGENT\tHOSTNAME\tROLE\tVOLUME\tPATH\tMIB\tSHARED\tCREATED BY")
	for _, a := range st.Agents {
		for _, r := range a.GetInfo().GetResources() {
			if messages.IsVolume(r) {
				// Read-only is how a task mounts a volume, not what
				// the volume is: agora tasks shows the tasks.
				shared := "no"
				if r.Shared {
					shared = "yes"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%g\t%s\t%s\n", a.Info.GetId().GetValue(), a.Info.GetHostname(), r.Role,
					r.Disk.PersistenceId, r.Disk.ContainerPath, r.Scalar, shared, r.Disk.Principal)
			}
		}
	}
	return w.Flush()
}

// volumeJSON is one volume of agora volumes --json, named as protojson
// names the state's fields.
type volumeJSON struct {
	AgentID  string          `json:"agentId"`
	Hostname string          `json:"hostname"`
	Volume   json.RawMessage `json:"volume"`
}

func printVolumesJSON(w io.Writer, st *messages.MasterState) error {
	list := []volumeJSON{}
	for _, a := range st.Agents {
		for _, r := range a.GetInfo().GetResources() {
			if !messages.IsVolume(r) {
				continue
			}
			v, err := protojson.Marshal(r)
			if err != nil {
				return err
			}
			list = append(list, volumeJSON{AgentID: a.Info.GetId().GetValue(), Hostname: a.Info.GetHostname(), Volume: v})
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(list)
}
