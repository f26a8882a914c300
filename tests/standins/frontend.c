/* A stand-in for a provincial gateway front-end library (前置机动态库):
 *     int INIT(char *pErrMsg);                     (with -DINIT_WITH_ARGS: int INIT(const char *pInit, char *pErrMsg))
 *     int BUSINESS_HANDLE(char *inputData, char *outputData);
 * Like the real ones it takes the envelope in the counter's ANSI code page (GBK), talks to the insurer itself and
 * answers in GBK. This one forwards the envelope to the sandbox insurer with a minimal HTTP/1.0 client over BSD
 * sockets (converting GBK <-> UTF-8 with iconv), so rxlane's DLL path is tested against the real sandbox.
 * `frontend.ini` in the working directory ("key value" lines):
 *     host 127.0.0.1 / port 8700 / path /fsi/api/rsfComIfsService/callService
 *     init ok|fail|hang|crash
 *     mode forward|hang|crash|refuse|refuse_envelope|syserr|overlong|notgbk
 *     fault_infno 2102          apply `mode` only to this transaction (forward the others)
 *     when before|after         hang/crash before sending, or after the insurer has answered (default after)
 * Every call is logged to `standin.log`. */
#include <arpa/inet.h>
#include <iconv.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "standin.h"

#define INI "frontend.ini"
#define OUT_CAP (1 << 20)

static int convert(const char *from, const char *to, const char *in, size_t inlen, char *out, size_t cap) {
    iconv_t cd = iconv_open(to, from);
    if (cd == (iconv_t)-1) return -1;
    char *src = (char *)in, *dst = out;
    size_t left = inlen, room = cap - 1;
    size_t r = iconv(cd, &src, &left, &dst, &room);
    iconv_close(cd);
    if (r == (size_t)-1) return -1;
    *dst = 0;
    return (int)(dst - out);
}

static void put_gbk(char *out, const char *utf8) { convert("UTF-8", "GBK", utf8, strlen(utf8), out, 4096); }

static int post(const char *body, int len, char *answer, int cap) {
    char host[64], port[16], path[256];
    standin_setting(INI, "host", host, sizeof host);
    standin_setting(INI, "port", port, sizeof port);
    standin_setting(INI, "path", path, sizeof path);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)atoi(port));
    inet_pton(AF_INET, host, &addr.sin_addr);
    if (connect(s, (struct sockaddr *)&addr, sizeof addr) != 0) { close(s); return -1; }
    char head[512];
    int hl = snprintf(head, sizeof head, "POST %s HTTP/1.0\r\nHost: %s:%s\r\nContent-Type: application/json;charset=utf-8"
                      "\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", path, host, port, len);
    if (write(s, head, (size_t)hl) != hl || write(s, body, (size_t)len) != len) { close(s); return -1; }
    int got = 0, n;
    while (got < cap - 1 && (n = (int)read(s, answer + got, (size_t)(cap - 1 - got))) > 0) got += n;
    close(s);
    answer[got] = 0;
    char *start = strstr(answer, "\r\n\r\n");
    if (!start) return -1;
    start += 4;
    int blen = got - (int)(start - answer);
    memmove(answer, start, (size_t)blen + 1);
    return blen;
}

static void infno_of(const char *envelope, char *infno) {
    infno[0] = 0;
    const char *p = strstr(envelope, "\"infno\"");
    if (!p || !(p = strchr(p + 7, '"'))) return;
    sscanf(p + 1, "%15[^\"]", infno);
}

#ifdef INIT_WITH_ARGS
int INIT(const char *pInit, char *pErrMsg) {
    FILE *f = fopen("init_args.txt", "wb");
    if (f) { fputs(pInit, f); fclose(f); }
#else
int INIT(char *pErrMsg) {
#endif
    char how[32];
    standin_log("INIT");
    standin_setting(INI, "init", how, sizeof how);
    if (strcmp(how, "hang") == 0) standin_hang();
    if (strcmp(how, "crash") == 0) standin_crash();
    if (strcmp(how, "fail") == 0) { put_gbk(pErrMsg, "前置机初始化失败：未找到医保前置机配置"); return -1; }
    pErrMsg[0] = 0;
    return 0;
}

int BUSINESS_HANDLE(char *inputData, char *outputData) {
    char mode[32], only[16], when[16], infno[16];
    static char utf8[OUT_CAP], answer[OUT_CAP];
    standin_setting(INI, "mode", mode, sizeof mode);
    standin_setting(INI, "fault_infno", only, sizeof only);
    standin_setting(INI, "when", when, sizeof when);
    infno_of(inputData, infno);
    char log[64];
    snprintf(log, sizeof log, "BUSINESS_HANDLE %s", infno);
    standin_log(log);
    if (only[0] && strcmp(only, infno) != 0) strcpy(mode, "forward");
    int after = strcmp(when, "before") != 0;
    if (!after && strcmp(mode, "hang") == 0) standin_hang();
    if (!after && strcmp(mode, "crash") == 0) standin_crash();
    if (strcmp(mode, "refuse") == 0) { put_gbk(outputData, "参保人医保卡密码校验失败，请重新输入"); return -2; }
    if (strcmp(mode, "syserr") == 0) { put_gbk(outputData, "前置机内部错误"); return -1; }
    if (strcmp(mode, "overlong") == 0) { memset(outputData, '{', OUT_CAP + 100); return 0; }
    if (strcmp(mode, "notgbk") == 0) { strcpy(outputData, "{\"infcode\":0,\"err_msg\":\"\x81\x20\xff\"}"); return 0; }
    int len = convert("GBK", "UTF-8", inputData, strlen(inputData), utf8, sizeof utf8);
    if (len < 0) { put_gbk(outputData, "报文字符集转换失败"); return -1; }
    int alen = post(utf8, len, answer, sizeof answer);
    if (alen < 0) { put_gbk(outputData, "连接医保中心失败"); return -1; }
    if (after && strcmp(mode, "hang") == 0) standin_hang();
    if (after && strcmp(mode, "crash") == 0) standin_crash();
    if (strcmp(mode, "refuse_envelope") == 0) {
        convert("UTF-8", "GBK", answer, (size_t)alen, outputData, OUT_CAP);
        return -2;
    }
    if (convert("UTF-8", "GBK", answer, (size_t)alen, outputData, OUT_CAP) < 0) {
        put_gbk(outputData, "应答字符集转换失败");
        return -1;
    }
    return 0;
}
