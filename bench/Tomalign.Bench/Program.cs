using BenchmarkDotNet.Running;

namespace Tomalign.Bench;

/// <summary>dotnet run -c Release --project bench/Tomalign.Bench -- --filter '*'</summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
