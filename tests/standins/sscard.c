/* A stand-in for a card reader vendor's library implementing the standard social-security card interface:
 *     int iReadCardBas(int iType, char *pOutInfo);    int iVerifyPIN(int iType, char *pOutInfo);
 * Behaviour per call comes from `standin.ctl` in the working directory:
 *     read <ret> <hex>   write these bytes into pOutInfo (as given: include 00 to terminate) and return <ret>
 *     read hang | read crash
 *     pin <ret> <hex>  | pin hang | pin crash
 * Every call is logged to `standin.log` as "<function> <iType>". */
#include "standin.h"

static int answer(const char *key, const char *function, int iType, char *pOutInfo) {
    char line[1 << 16], log[64];
    snprintf(log, sizeof log, "%s %d", function, iType);
    standin_log(log);
    standin_setting("standin.ctl", key, line, sizeof line);
    if (strcmp(line, "hang") == 0) standin_hang();
    if (strcmp(line, "crash") == 0) standin_crash();
    int ret = -11;
    char hex[1 << 16] = "";
    if (sscanf(line, "%d %65535s", &ret, hex) < 1) {
        strcpy(pOutInfo, "\xb6\xc1\xbf\xa8\xc6\xf7\xc1\xac\xbd\xd3\xb4\xed");   /* 读卡器连接错 (GBK) */
        return -11;
    }
    standin_unhex(hex, pOutInfo);
    return ret;
}

#ifndef NO_READ
int iReadCardBas(int iType, char *pOutInfo) { return answer("read", "iReadCardBas", iType, pOutInfo); }
#endif

int iVerifyPIN(int iType, char *pOutInfo) { return answer("pin", "iVerifyPIN", iType, pOutInfo); }

#ifdef CTOR_CRASH
__attribute__((constructor)) static void crash_on_load(void) { standin_crash(); }
#endif
#ifdef CTOR_HANG
__attribute__((constructor)) static void hang_on_load(void) { standin_hang(); }
#endif
#ifdef CHATTY
__attribute__((constructor)) static void chatter(void) { printf("{\"id\": 1, \"ok\": false}\nvendor banner\n"); fflush(stdout); }
#endif
