namespace Tomalign.Core.Fft;

/// <summary>FFT-friendly sizes: products 2^a·3^b·5^c, the radices every Tomalign FFT supports.</summary>
public static class FftSize
{
    /// <summary>True when <paramref name="n"/> ≥ 1 has no prime factor other than 2, 3 and 5.</summary>
    public static bool IsGood(int n)
    {
        if (n < 1) return false;
        foreach (int p in stackalloc[] { 2, 3, 5 })
            while (n % p == 0) n /= p;
        return n == 1;
    }

    /// <summary>The smallest 2^a·3^b·5^c that is ≥ <paramref name="n"/>.</summary>
    public static int NextGood(int n)
    {
        if (n < 1) return 1;
        while (!IsGood(n)) n++;
        return n;
    }

    /// <summary>The smallest even 2^a·3^b·5^c that is ≥ <paramref name="n"/> (for real transforms whose half spectrum should be Nyquist-symmetric).</summary>
    public static int NextGoodEven(int n)
    {
        n = NextGood(Math.Max(n, 2));
        while (n % 2 != 0 || !IsGood(n)) n++;
        return n;
    }

    /// <summary>The radices of <paramref name="n"/> in the order the Stockham passes use them: 4s first, then 2, 3, 5.</summary>
    public static int[] Radices(int n)
    {
        if (!IsGood(n)) throw new ArgumentException($"FFT size {n} is not a product of 2, 3 and 5; pad it with FftSize.NextGood", nameof(n));
        var list = new List<int>();
        while (n % 4 == 0) { list.Add(4); n /= 4; }
        while (n % 2 == 0) { list.Add(2); n /= 2; }
        while (n % 3 == 0) { list.Add(3); n /= 3; }
        while (n % 5 == 0) { list.Add(5); n /= 5; }
        return list.ToArray();
    }
}
