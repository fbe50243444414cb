namespace Tomalign.Core.Simulation;

/// <summary>
/// A small, allocation-free, platform-independent random generator (SplitMix64) so a seed gives
/// the same series on every runtime, and independent streams can be keyed by (seed, purpose, index)
/// for deterministic parallel work.
/// </summary>
internal struct SimRandom
{
    private ulong _state;

    public SimRandom(int seed, int stream, long index = 0)
    {
        _state = Mix((ulong)(uint)seed * 0x9E3779B97F4A7C15UL ^ Mix((ulong)(uint)stream + 0x632BE59BD9B4E019UL) ^ Mix((ulong)index * 0xD1B54A32D192ED03UL + 1));
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextULong()
    {
        _state += 0x9E3779B97F4A7C15UL;
        return Mix(_state);
    }

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => (NextULong() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [a, b).</summary>
    public double Uniform(double a, double b) => a + (b - a) * NextDouble();

    /// <summary>Standard normal (Box–Muller; the second value is discarded to keep the state simple).</summary>
    public double Normal()
    {
        double u1 = 1.0 - NextDouble(); // (0, 1]
        double u2 = NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    /// <summary>
    /// A Poisson deviate of mean <paramref name="lambda"/>: Knuth's product method below 10,
    /// Hörmann's transformed rejection (PTRS, 1993) above.
    /// </summary>
    public int Poisson(double lambda)
    {
        if (lambda <= 0) return 0;
        if (lambda < 10)
        {
            double limit = Math.Exp(-lambda), p = NextDouble();
            int k = 0;
            while (p > limit) { k++; p *= NextDouble(); }
            return k;
        }
        double slam = Math.Sqrt(lambda), loglam = Math.Log(lambda);
        double b = 0.931 + 2.53 * slam;
        double a = -0.059 + 0.02483 * b;
        double invAlpha = 1.1239 + 1.1328 / (b - 3.4);
        double vr = 0.9277 - 3.6224 / (b - 2);
        while (true)
        {
            double u = NextDouble() - 0.5, v = NextDouble();
            double us = 0.5 - Math.Abs(u);
            double kd = Math.Floor((2 * a / us + b) * u + lambda + 0.43);
            if (us >= 0.07 && v <= vr) return (int)kd;
            if (kd < 0 || (us < 0.013 && v > us)) continue;
            if (Math.Log(v) + Math.Log(invAlpha) - Math.Log(a / (us * us) + b) <= -lambda + kd * loglam - LogFactorial((int)kd))
                return (int)kd;
        }
    }

    private static readonly double[] LogFactorialTable = BuildLogFactorials(256);

    private static double[] BuildLogFactorials(int n)
    {
        var t = new double[n];
        for (int k = 1; k < n; k++) t[k] = t[k - 1] + Math.Log(k);
        return t;
    }

    internal static double LogFactorial(int k)
    {
        if (k < LogFactorialTable.Length) return LogFactorialTable[k];
        double x = k;
        return x * Math.Log(x) - x + 0.5 * Math.Log(2 * Math.PI * x) + 1.0 / (12 * x) - 1.0 / (360 * x * x * x);
    }
}
