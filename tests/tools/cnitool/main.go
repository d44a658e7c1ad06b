// Command cnitool runs a CNI network from a config directory through libcni,
// the library containerd and CRI-O use to call CNI plugins. meta-cni's
// real-plugin tests (tests/realplugins) and `make demo` drive meta-cni with it
// the way a container runtime does: config loading, capability filtering
// into runtimeConfig, the result cache that gives CHECK and DEL their
// prevResult.
//
// It is built against Debian's libcni (golang-github-appc-cni-dev, libcni
// 1.1.x) in GOPATH mode, without Go modules; scripts/install-test-tools.sh
// builds and installs it.
//
// Usage:
//
//	cnitool add|check|del NET [NETNS_PATH]
//	cnitool cached NET [NETNS_PATH]
//	cnitool validate NET
//	cnitool version PLUGIN
//
// NETNS_PATH is required for add and check. Environment:
//
//	NETCONFPATH      config dir (default /etc/cni/net.d): NET is the first
//	                 *.conflist named NET, else the first *.conf/*.json named
//	                 NET as a one-plugin list (libcni.LoadConfList)
//	CNI_PATH         plugin dirs, colon-separated (default /opt/cni/bin)
//	CNI_IFNAME       interface name (default eth0)
//	CNI_CONTAINERID  container ID (default "cnitool-" + a hash of NETNS_PATH)
//	CNI_ARGS         "K=V;K=V", passed to plugins as CNI_ARGS
//	CAP_ARGS         JSON object of capability arguments; libcni passes each
//	                 key a plugin's "capabilities" enables in its runtimeConfig
//	CNI_CACHE_DIR    libcni's cache dir (default /var/lib/cni)
//	CNI_TIMEOUT      deadline in seconds for the whole operation (default none)
//
// Output: add prints the result, cached the cached result, validate the
// capabilities of the network, version the CNI versions the plugin supports,
// all as JSON on stdout; check and del print nothing. On failure the exit
// status is 1; if the error is a CNI error object (a plugin's, as libcni
// returns it), that object is printed as one line of JSON on stdout, and
// whatever libcni added around it goes to stderr; any other error goes to
// stderr only. A bad command line or environment variable exits with 2.
//
// libcni 1.1.x has no STATUS or GC calls, so neither has this tool.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
)

const usage = `cnitool: runs a CNI network through libcni (meta-cni's test driver, tests/tools/cnitool)

usage:
  cnitool add|check|del NET [NETNS_PATH]   (NETNS_PATH required for add and check)
  cnitool cached NET [NETNS_PATH]          the result libcni cached for the attachment
  cnitool validate NET                     plugins exist and support the version; capabilities
  cnitool version PLUGIN                   CNI versions PLUGIN (in CNI_PATH) supports

environment:
  NETCONFPATH (/etc/cni/net.d)  CNI_PATH (/opt/cni/bin)  CNI_IFNAME (eth0)
  CNI_CONTAINERID ("cnitool-" + hash of NETNS_PATH)  CNI_ARGS ("K=V;K=V")
  CAP_ARGS (JSON object)  CNI_CACHE_DIR (/var/lib/cni)  CNI_TIMEOUT (seconds)
`

// usageError is a bad command line (usage is true: the usage text follows
// the message) or a bad environment variable: exit status 2.
type usageError struct {
	msg   string
	usage bool
}

func (e usageError) Error() string { return e.msg }

func main() {
	args := os.Args[1:]
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Print(usage)
		return
	}
	err := run(args)
	if err == nil {
		return
	}
	var uerr usageError
	if errors.As(err, &uerr) {
		fmt.Fprintf(os.Stderr, "cnitool: %s\n", uerr.msg)
		if uerr.usage {
			fmt.Fprintf(os.Stderr, "\n%s", usage)
		}
		os.Exit(2)
	}
	report(err)
	os.Exit(1)
}

// report prints a failure: a CNI error object inside err as JSON on stdout
// (and err's full text on stderr when libcni wrapped the object in more
// context); any other error on stderr.
func report(err error) {
	var cniErr *types.Error
	if errors.As(err, &cniErr) {
		var line bytes.Buffer
		enc := json.NewEncoder(&line)
		enc.SetEscapeHTML(false)
		if enc.Encode(cniErr) == nil {
			os.Stdout.Write(line.Bytes())
			if err.Error() != cniErr.Error() {
				fmt.Fprintf(os.Stderr, "cnitool: %v\n", err)
			}
			return
		}
	}
	fmt.Fprintf(os.Stderr, "cnitool: %v\n", err)
}

func run(args []string) error {
	if len(args) == 0 {
		return usageError{msg: "no command", usage: true}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "add", "check", "del", "cached", "validate", "version":
	case "status", "gc":
		return usageError{msg: fmt.Sprintf("%s: not available: libcni 1.1.x has no STATUS or GC call", cmd), usage: true}
	default:
		return usageError{msg: fmt.Sprintf("unknown command %q", cmd), usage: true}
	}

	netnsNeeded := cmd == "add" || cmd == "check"
	maxArgs := 2
	if cmd == "validate" || cmd == "version" {
		maxArgs = 1
	}
	switch {
	case len(rest) == 0 && cmd == "version":
		return usageError{msg: "version: missing PLUGIN", usage: true}
	case len(rest) == 0:
		return usageError{msg: fmt.Sprintf("%s: missing NET", cmd), usage: true}
	case len(rest) > maxArgs:
		return usageError{msg: fmt.Sprintf("%s: too many arguments", cmd), usage: true}
	case netnsNeeded && len(rest) < 2:
		return usageError{msg: fmt.Sprintf("%s: missing NETNS_PATH", cmd), usage: true}
	}

	ctx := context.Background()
	if s := os.Getenv("CNI_TIMEOUT"); s != "" {
		secs, err := strconv.ParseFloat(s, 64)
		if err != nil || !(secs > 0) || secs > 1e9 {
			return usageError{msg: fmt.Sprintf("CNI_TIMEOUT=%q: want a positive number of seconds", s)}
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(secs*float64(time.Second)))
		defer cancel()
	}

	err := do(ctx, cmd, rest)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("%w (CNI_TIMEOUT=%ss passed)", err, os.Getenv("CNI_TIMEOUT"))
	}
	return err
}

// do runs cmd; rest are its arguments, already checked.
func do(ctx context.Context, cmd string, rest []string) error {
	cni := libcni.NewCNIConfigWithCacheDir(pluginDirs(), os.Getenv("CNI_CACHE_DIR"), nil)

	if cmd == "version" {
		info, err := cni.GetVersionInfo(ctx, rest[0])
		if err != nil {
			return err
		}
		return printJSON(map[string][]string{"supportedVersions": info.SupportedVersions()})
	}

	confDir := envOr("NETCONFPATH", "/etc/cni/net.d")
	list, err := libcni.LoadConfList(confDir, rest[0])
	if err != nil {
		return err
	}

	if cmd == "validate" {
		caps, err := cni.ValidateNetworkList(ctx, list)
		if err != nil {
			return err
		}
		sort.Strings(caps)
		return printJSON(map[string][]string{"capabilities": caps})
	}

	netns := ""
	if len(rest) == 2 {
		netns = rest[1]
	}
	rt, err := runtimeConf(netns)
	if err != nil {
		return err
	}

	switch cmd {
	case "add":
		result, err := cni.AddNetworkList(ctx, list, rt)
		if err != nil {
			return err
		}
		return printJSON(result)
	case "check":
		return cni.CheckNetworkList(ctx, list, rt)
	case "del":
		return cni.DelNetworkList(ctx, list, rt)
	default: // cached
		result, err := cni.GetNetworkListCachedResult(list, rt)
		if err != nil {
			return err
		}
		if result == nil {
			return fmt.Errorf("no cached result for network %q, container %q, interface %q", list.Name, rt.ContainerID, rt.IfName)
		}
		return printJSON(result)
	}
}

// runtimeConf builds the per-attachment arguments from the environment.
func runtimeConf(netns string) (*libcni.RuntimeConf, error) {
	if netns != "" {
		abs, err := filepath.Abs(netns)
		if err != nil {
			return nil, err
		}
		netns = abs
	}
	cid := os.Getenv("CNI_CONTAINERID")
	if cid == "" {
		if netns == "" {
			return nil, usageError{msg: "CNI_CONTAINERID is needed when no NETNS_PATH is given"}
		}
		sum := sha256.Sum256([]byte(netns))
		cid = "cnitool-" + hex.EncodeToString(sum[:12])
	}
	pluginArgs, err := parseCNIArgs(os.Getenv("CNI_ARGS"))
	if err != nil {
		return nil, err
	}
	capArgs, err := parseCapArgs(os.Getenv("CAP_ARGS"))
	if err != nil {
		return nil, err
	}
	return &libcni.RuntimeConf{
		ContainerID:    cid,
		NetNS:          netns,
		IfName:         envOr("CNI_IFNAME", "eth0"),
		Args:           pluginArgs,
		CapabilityArgs: capArgs,
	}, nil
}

// parseCNIArgs splits "K=V;K=V" into pairs. Empty entries are skipped; the
// value may contain '='.
func parseCNIArgs(s string) ([][2]string, error) {
	var out [][2]string
	for _, kv := range strings.Split(s, ";") {
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageError{msg: fmt.Sprintf("CNI_ARGS: %q is not KEY=VALUE", kv)}
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// parseCapArgs reads CAP_ARGS: one JSON object. Numbers stay as written
// (json.Number), so plugins see exactly what the caller gave.
func parseCapArgs(s string) (map[string]interface{}, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]interface{}
	if err := dec.Decode(&m); err != nil {
		return nil, usageError{msg: fmt.Sprintf("CAP_ARGS: not a JSON object: %v", err)}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, usageError{msg: "CAP_ARGS: data after the JSON object"}
	}
	if m == nil {
		return nil, usageError{msg: "CAP_ARGS: not a JSON object: null"}
	}
	return m, nil
}

func pluginDirs() []string {
	var dirs []string
	for _, d := range filepath.SplitList(envOr("CNI_PATH", "/opt/cni/bin")) {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// printJSON writes v to stdout, indented, with a final newline.
func printJSON(v interface{}) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "    ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := os.Stdout.Write(buf.Bytes())
	return err
}
