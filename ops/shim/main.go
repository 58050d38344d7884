// Command shim (kitshop-shim in the images) does the two things a shell
// would do in a kitshop container, whose distroless image has none:
//
//	kitshop-shim probe [-timeout 3s] URL
//	    GET URL; exit 0 on a 2xx answer, else 1 with the answer on stdout.
//	    It trusts KITSHOP_TLS_CA when set. For compose HEALTHCHECKs, which
//	    run a command inside the container (Kubernetes probes need none).
//
//	kitshop-shim exec [-advertise] PROGRAM [ARG...]
//	    Replace itself with PROGRAM (same PID, so signals reach it). With
//	    -advertise and KITSHOP_ADVERTISE_HOST unset, first set it to this
//	    container's IP address, so that each replica of a compose service
//	    registers an address its peers can dial, which no compose file can
//	    spell per replica (Kubernetes sets it from status.podIP).
//
// It is one small static binary beside the program in every image, rather
// than a shell and curl: nothing else to patch, and the program itself
// stays the same as the one `make run` runs.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// advertiseEnv is the variable kit/config reads for the registered host.
const advertiseEnv = "KITSHOP_ADVERTISE_HOST"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: kitshop-shim probe [-timeout 3s] URL | kitshop-shim exec [-advertise] PROGRAM [ARG...]")
		return 2
	}
	var err error
	switch args[0] {
	case "probe":
		err = probeCmd(args[1:], stdout)
	case "exec":
		err = execCmd(args[1:])
	default:
		err = fmt.Errorf("unknown command %q (want probe or exec)", args[0])
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "kitshop-shim:", err)
		return 1
	}
	return 0
}

func probeCmd(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 3*time.Second, "bound on the whole request")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("probe wants one URL")
	}
	if *timeout <= 0 {
		return fmt.Errorf("-timeout %v must be positive", *timeout)
	}
	client, err := probeClient(os.Getenv("KITSHOP_TLS_CA"), *timeout)
	if err != nil {
		return err
	}
	return probe(client, fs.Arg(0), stdout)
}

// probeClient trusts caFile (when set) and, like kit/tlsx, checks the
// chain but not the host name: the probe dials its own container at
// localhost, and platform certificates name their service, not a host.
// It presents no certificate; health endpoints ask for none.
func probeClient(caFile string, timeout time.Duration) (*http.Client, error) {
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("KITSHOP_TLS_CA: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("KITSHOP_TLS_CA: %s holds no PEM certificate", caFile)
		}
		tr.TLSClientConfig = &tls.Config{
			MinVersion:         tls.VersionTLS12,
			InsecureSkipVerify: true, //nolint:gosec // the chain is verified below, host names are not used
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 {
					return errors.New("server presented no certificate")
				}
				inter := x509.NewCertPool()
				for _, c := range cs.PeerCertificates[1:] {
					inter.AddCert(c)
				}
				_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
				return err
			},
		}
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		// A health endpoint answers; a redirect is a misconfiguration.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// probe reports the answer on stdout (Docker keeps it in the container's
// health log) and fails unless it is 2xx.
func probe(client *http.Client, url string, stdout io.Writer) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	fmt.Fprintf(stdout, "%s %s\n", resp.Status, strings.TrimSpace(string(body)))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}

func execCmd(args []string) error {
	fs := flag.NewFlagSet("exec", flag.ContinueOnError)
	advertise := fs.Bool("advertise", false, "set "+advertiseEnv+" to this container's IP address when it is unset")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("exec wants a program")
	}
	path, err := exec.LookPath(fs.Arg(0))
	if err != nil {
		return err
	}
	env := os.Environ()
	if *advertise && os.Getenv(advertiseEnv) == "" {
		ip, err := ownAddress()
		if err != nil {
			return fmt.Errorf("%w; set %s", err, advertiseEnv)
		}
		env = append(env, advertiseEnv+"="+ip.String())
	}
	return syscall.Exec(path, fs.Args(), env)
}

// ownAddress is the address peers reach this container at: what its own
// host name resolves to (Docker writes it into /etc/hosts, on the
// container's first network), else its one non-loopback interface address.
func ownAddress() (net.IP, error) {
	var byName []net.IP
	if host, err := os.Hostname(); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		byName, _ = net.DefaultResolver.LookupIP(ctx, "ip", host)
		cancel()
	}
	var ifaces []net.IP
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				ifaces = append(ifaces, n.IP)
			}
		}
	}
	return pickAddress(byName, ifaces)
}

// pickAddress prefers the host name's address (IPv4 first), and otherwise
// takes the interface address only when there is exactly one candidate:
// guessing among several networks would register an address some peers
// cannot reach.
func pickAddress(byName, ifaces []net.IP) (net.IP, error) {
	usable := func(ip net.IP) bool { return ip.IsGlobalUnicast() && !ip.IsLoopback() }
	for _, want4 := range []bool{true, false} {
		for _, ip := range byName {
			if usable(ip) && (ip.To4() != nil) == want4 {
				return ip, nil
			}
		}
	}
	var cands []net.IP
	for _, ip := range ifaces {
		if usable(ip) && ip.To4() != nil {
			cands = append(cands, ip)
		}
	}
	switch len(cands) {
	case 1:
		return cands[0], nil
	case 0:
		return nil, errors.New("no non-loopback IPv4 address found")
	default:
		return nil, fmt.Errorf("several addresses %v, cannot tell which peers reach", cands)
	}
}
