// Command ceiling is the HTTP ceiling docs/bench-receiver.sh measures the
// receiver against: a Fiber server configured as the receiver's that reads
// each body and answers {"status":"accepted"}, with no verification and no
// Kafka. It is a measuring instrument, not part of hookbridge, so it is a
// separate binary rather than a mode users could find in `hookbridge`.
//
//	go run ./internal/loadtest/ceiling -listen 127.0.0.1:18479
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/goccy/go-json"
	"github.com/gofiber/fiber/v2"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18479", "address to listen on")
	flag.Parse()
	// Same settings as the receiver's defaults that cost per request.
	app := fiber.New(fiber.Config{
		BodyLimit:             1 << 20,
		ReadTimeout:           10 * time.Second,
		WriteTimeout:          15 * time.Second,
		IdleTimeout:           60 * time.Second,
		DisableStartupMessage: true,
		JSONEncoder:           json.Marshal,
	})
	app.Post("/*", func(c *fiber.Ctx) error {
		if len(c.Body()) == 0 {
			return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": "empty body"})
		}
		return c.Status(fiber.StatusOK).JSON(fiber.Map{"status": "accepted"})
	})
	if err := app.Listen(*listen); err != nil {
		fmt.Fprintln(os.Stderr, "ceiling:", err)
		os.Exit(1)
	}
}
