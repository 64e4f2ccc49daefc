// go_dial: Go's own connects under the tracer (Go connects non-blocking, waits in epoll, then asks
// getsockopt SO_ERROR).  It dials the closed port given (refused), then a listener of its own, and
// sends a line that comes back.  Prints "key value" lines for the test.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
)

func main() {
	_, err := net.Dial("tcp", os.Args[1])
	fmt.Println("refused", errors.Is(err, syscall.ECONNREFUSED))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go func() {
		c, err := ln.Accept()
		if err != nil {
			panic(err)
		}
		line, _ := bufio.NewReader(c).ReadString('\n')
		c.Write([]byte(line))
		c.Close()
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	fmt.Println("client_port", c.LocalAddr().(*net.TCPAddr).Port)
	fmt.Println("server_port", ln.Addr().(*net.TCPAddr).Port)
	fmt.Fprintf(c, "hello from go\n")
	echo, _ := bufio.NewReader(c).ReadString('\n')
	fmt.Println("echo", echo == "hello from go\n")
	c.Close()
}
