namespace Tomalign.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        using var cts = new CancellationTokenSource();
        int presses = 0;
        Console.CancelKeyPress += (_, e) =>
        {
            // The first Ctrl-C stops the command at its next check (exit 130, no partial output); a second one ends the
            // process at once (the shell sees 130 too, but a temporary output file may be left behind).
            if (Interlocked.Increment(ref presses) > 1) return;
            e.Cancel = true;
            Console.Error.WriteLine();
            Console.Error.WriteLine("interrupt: stopping at the next check (Ctrl-C again to quit at once)");
            cts.Cancel();
        };
        return CliApp.Run(args, cancel: cts.Token);
    }
}
